package peer

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"blockpeer/chain"
)

// Timings are every interval the node keeps: CourseTimings on the course
// network, TestTimings (or shorter still) in tests, benchmarks and the lab.
type Timings struct {
	GossipInterval    time.Duration // re-GOSSIP to the seeds and 3 peers
	PeerTimeout       time.Duration // drop a peer silent this long
	ConsensusInterval time.Duration // run a consensus this often
	JoinDelay         time.Duration // first consensus this long after joining
	StatsWindow       time.Duration // collect STATS_REPLYs this long
	RequestTimeout    time.Duration // resend a GET_BLOCK unanswered this long
	SeenIDTTL         time.Duration // forget a gossip id after this long
	Tick              time.Duration // how often timers are checked
}

// Config configures a Node.
type Config struct {
	Name       string         // our name in GOSSIP
	Advertise  netip.AddrPort // the host:port we put in GOSSIP (where peers reach us)
	Seeds      []netip.AddrPort
	Difficulty int
	Timings    Timings
	Limits     Limits // bounds of every table and queue; zero fields take DefaultLimits
	RandSeed   uint64 // 0: a random seed
	Log        zerolog.Logger
	Now        func() time.Time // default time.Now

	Mine        bool   // mine blocks on top of our tip
	MineThreads int    // 0: all cores
	MineGenesis bool   // with an empty chain, mine a new genesis (lab seed)
	MineMessage string // message of a block when no NEW_WORD is queued
	// MinBlockInterval paces the miner: after finding a block it waits
	// until this long has passed before mining the next (the lab uses it
	// so that a demo shows blocks at a readable pace). 0: no pause.
	MinBlockInterval time.Duration

	// OnEvent, when set, is called with every Event (see events.go), on
	// the node's event loop: it must return at once (hand the event to a
	// buffered channel, say) and must not call the node.
	OnEvent func(Event)
}

func (c *Config) check() error {
	if err := CheckName(c.Name); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch {
	case !c.Advertise.IsValid():
		return errors.New("config: no address to advertise")
	case c.Difficulty < 0 || c.Difficulty > 64:
		return fmt.Errorf("config: difficulty %d out of 0..64", c.Difficulty)
	}
	t := &c.Timings
	for _, d := range []*time.Duration{&t.GossipInterval, &t.PeerTimeout, &t.ConsensusInterval, &t.StatsWindow, &t.RequestTimeout, &t.SeenIDTTL, &t.Tick} {
		if *d <= 0 {
			return errors.New("config: every timing must be positive")
		}
	}
	c.Limits.withDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MineMessage == "" {
		c.MineMessage = "blockpeer"
	}
	if n := utf8.RuneCountInString(c.MineMessage); n > chain.MaxMessageRunes || !utf8.ValidString(c.MineMessage) {
		return fmt.Errorf("config: the mined message %q has %d characters; a block message has at most %d", c.MineMessage, n, chain.MaxMessageRunes)
	}
	return nil
}

// CourseTimings returns the timings of the course network (spec sections
// 3 to 5): re-GOSSIP every 30 s, drop a peer silent for 60 s, a consensus
// every 2 minutes.
func CourseTimings() Timings {
	return Timings{
		GossipInterval:    30 * time.Second,
		PeerTimeout:       60 * time.Second,
		ConsensusInterval: 2 * time.Minute,
		JoinDelay:         time.Second, // let GOSSIP_REPLYs arrive before the first STATS
		StatsWindow:       time.Second,
		RequestTimeout:    time.Second,
		SeenIDTTL:         5 * time.Minute,
		Tick:              50 * time.Millisecond,
	}
}

// TestTimings returns short timings for tests and benchmarks on one
// machine: everything happens within seconds.
func TestTimings() Timings {
	return Timings{
		GossipInterval:    time.Second,
		PeerTimeout:       10 * time.Second,
		ConsensusInterval: 5 * time.Second,
		JoinDelay:         100 * time.Millisecond,
		StatsWindow:       150 * time.Millisecond,
		RequestTimeout:    200 * time.Millisecond,
		SeenIDTTL:         time.Minute,
		Tick:              10 * time.Millisecond,
	}
}
