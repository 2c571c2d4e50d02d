package main

import (
	"time"

	"blockpeer/peer"
)

// wellKnownPeers are the course's seed hosts: the way into the course
// network. -peers replaces them (labs, tests, other networks).
var wellKnownPeers = []string{
	"silicon.cs.umanitoba.ca:8999",
	"eagle.cs.umanitoba.ca:8999",
	"hawk.cs.umanitoba.ca:8999",
	"grebe.cs.umanitoba.ca:8999",
	"goose.cs.umanitoba.ca:8999",
}

// Protocol constants of the course network (spec sections 3 to 5).
const (
	defaultPort       = 8993
	defaultDifficulty = 8 // 9 on the course's competition network
	gossipInterval    = 30 * time.Second
	peerTimeout       = 60 * time.Second
	consensusInterval = 2 * time.Minute
	seenIDTTL         = 5 * time.Minute
)

// courseTimings are the node's timings on the course network.
func courseTimings() peer.Timings {
	return peer.Timings{
		GossipInterval:    gossipInterval,
		PeerTimeout:       peerTimeout,
		ConsensusInterval: consensusInterval,
		JoinDelay:         time.Second, // let GOSSIP_REPLYs arrive before the first STATS
		StatsWindow:       time.Second,
		RequestTimeout:    time.Second,
		SeenIDTTL:         seenIDTTL,
		Tick:              50 * time.Millisecond,
	}
}
