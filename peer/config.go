package peer

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
)

// Timings are every interval the node keeps. The course values live in the
// top-level config.go; tests and the lab shorten them.
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
	MaxPeers   int    // membership table bound (default 1000)
	Limits     Limits // bounds of the other tables and queues; zero fields take DefaultLimits
	// ReplyRate is how many replies per second we send to one address
	// (STATS_REPLY, GET_BLOCK_REPLY, GOSSIP_REPLY, STATS and GOSSIP to a
	// new peer), ReplyBurst how many at once: 0 takes
	// DefaultReplyRate and DefaultReplyBurst, a negative rate is unlimited.
	ReplyRate  float64
	ReplyBurst int
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
	switch {
	case c.Name == "":
		return errors.New("config: a name is required")
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
	if c.MaxPeers <= 0 {
		c.MaxPeers = 1000
	}
	c.Limits.withDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MineMessage == "" {
		c.MineMessage = "blockpeer"
	}
	return nil
}
