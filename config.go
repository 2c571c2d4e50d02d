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

// Bounds on every table and queue of a node, so that no stream of
// datagrams makes it grow without end, and how it treats misbehaving
// peers (README "Robustness"). peer.DefaultLimits holds the same values
// for nodes built without them (tests).
const (
	maxPeers         = 1_000  // membership table
	maxSeenIDs       = 20_000 // gossip ids remembered (forward each once); ~300 live on the course network
	maxOurIDs        = 1_000  // our own GOSSIP ids, recognised when they come back
	maxExclusions    = 1_024  // (peer, chain) pairs refused after a lie
	maxTallyReports  = 2_000  // STATS replies counted per consensus round
	maxSyncWindow    = 64     // GET_BLOCKs in flight to one backer
	maxSyncLookahead = 4_096  // heights requested beyond the verified prefix (blocks held unverified)
	maxQueuedWords   = 1_000  // NEW_WORD queue
	maxOffenders     = 4_096  // misbehaving peers remembered
	maxReplySources  = 4_096  // addresses the reply rate limiter tracks one by one (the rest share one bucket)
	forwardRate      = 100    // GOSSIPs per second forwarded for one sender (each to 3 peers)
	forwardBurst     = 200    // GOSSIPs forwarded at once for one sender
	replyRate        = 10_000 // replies per second to one address (anti-amplification)
	replyBurst       = 10_000 // replies at once to one address: a fresh node's sync of a course chain from one source fits in it
	banScore         = 10     // offence points that get a peer banned (a lie is 10, a malformed datagram 0.1)
	offenceHalfLife  = time.Minute
	banDuration      = 5 * time.Minute
	warnInterval     = 5 * time.Minute // at most one warning line per misbehaving peer this often
)

// courseLimits are the node's bounds on the course network.
func courseLimits() peer.Limits {
	return peer.Limits{
		SeenIDs:         maxSeenIDs,
		OurIDs:          maxOurIDs,
		Exclusions:      maxExclusions,
		TallyReports:    maxTallyReports,
		SyncWindow:      maxSyncWindow,
		SyncLookahead:   maxSyncLookahead,
		QueuedWords:     maxQueuedWords,
		Offenders:       maxOffenders,
		ReplySources:    maxReplySources,
		ForwardRate:     forwardRate,
		ForwardBurst:    forwardBurst,
		OffenceHalfLife: offenceHalfLife,
		BanScore:        banScore,
		BanDuration:     banDuration,
		WarnInterval:    warnInterval,
	}
}

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
