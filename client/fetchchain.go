package client

import (
	"context"
	"fmt"
	"io"
	"time"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// FetchChain fetches the whole chain of the peer at cfg.Target (pipelined,
// as the chain command does) and verifies it from genesis at
// cfg.Difficulty: what export -peer writes as a chain file. Progress lines
// go to progress (nil: none). It fails when the peer does not answer,
// leaves blocks out or serves a chain that does not verify, and returns
// ErrInterrupted when ctx is cancelled.
func FetchChain(ctx context.Context, cfg Config, progress io.Writer) ([]*chain.Block, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := c.exchange(c.main, protocol.Stats{}, protocol.TypeStatsReply, nil)
	if err != nil {
		return nil, err
	}
	height := r.Msg.(protocol.StatsReply).Height
	if height <= 0 {
		return nil, nil
	}
	var report func(got, total int, el time.Duration)
	if progress != nil {
		report = func(got, total int, el time.Duration) {
			fmt.Fprintf(progress, "  ... %d/%d blocks, %.0f blocks/s\n", got, total, float64(got)/el.Seconds())
		}
	}
	f := c.fetchRange(0, height-1, report)
	if c.interrupted() {
		return nil, ErrInterrupted
	}
	if missing := f.missing(); len(missing) > 0 {
		return nil, fmt.Errorf("%s did not send blocks %s (of %d) after %d tries each", cfg.Target, heightList(missing), height, fetchTries)
	}
	if v := chain.Verify(f.Blocks, c.cfg.Difficulty, nil); !v.OK() {
		return nil, fmt.Errorf("the chain of %s %w at difficulty %d: %w", cfg.Target, ErrInvalid, c.cfg.Difficulty, v.Err)
	}
	return f.Blocks, nil
}
