package peer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"blockpeer/chain"
	"blockpeer/miner"
	"blockpeer/protocol"
)

// mining is the miner goroutine working on one template.
type mining struct {
	cancel  context.CancelFunc
	tmpl    miner.Template
	words   int       // how many queued words the template uses
	started time.Time // for the hash rate: time spent mining
	hashes  uint64    // the node's hash count when it started
}

// restartMining (re)starts the miner on top of our tip, if mining is on.
// It is called whenever the tip changes, so a block from a peer wins the
// race at once.
func (n *Node) restartMining() {
	n.stopMining()
	if !n.cfg.Mine || (n.chain.Height() == 0 && !n.cfg.MineGenesis) {
		return
	}
	now := n.cfg.Now()
	if next := n.mine.lastMined.Add(n.cfg.MinBlockInterval); now.Before(next) {
		n.mine.restAt = next // paced: tick starts the miner then
		return
	}
	n.mine.restAt = time.Time{}
	words := n.mine.words[:n.wordsThatFit(now.Unix())]
	msgs := append([]string(nil), words...)
	if len(msgs) == 0 {
		msgs = []string{n.cfg.MineMessage}
	}
	t := miner.Template{
		Prev:       n.chain.TipHash(),
		Height:     n.chain.Height(),
		MinedBy:    n.cfg.Name,
		Messages:   msgs,
		Timestamp:  now.Unix(),
		Difficulty: n.cfg.Difficulty,
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.mine.miner = &mining{cancel: cancel, tmpl: t, words: len(words), started: now, hashes: n.mine.hashes.Load()}
	calls, done := n.calls, n.done
	go func() {
		b, err := miner.Search(ctx, t, n.cfg.MineThreads, &n.mine.hashes)
		if ctx.Err() != nil {
			return // stopped: the tip changed or the node stops
		}
		result := func() { n.onMined(b) }
		if err != nil {
			result = func() { n.onMinerError(err) }
		}
		select {
		case calls <- result:
		case <-done:
		case <-ctx.Done():
		}
	}()
}

// onMinerError handles a search that ended without a block: a nonce space
// run out is mined again (with a new timestamp); a template the miner
// refuses stops mining until the tip changes.
func (n *Node) onMinerError(err error) {
	if n.mine.miner == nil {
		return
	}
	if errors.Is(err, miner.ErrExhausted) {
		n.log.Info().Err(err).Msg("miner: nonces used up; new template")
		n.restartMining()
		return
	}
	n.log.Error().Err(err).Msg("miner stopped")
	n.stopMining()
}

func (n *Node) stopMining() {
	if n.mine.miner != nil {
		n.mine.miner.cancel()
		n.mine.rate.stopped(n.cfg.Now().Sub(n.mine.miner.started), n.mine.hashes.Load()-n.mine.miner.hashes)
		n.mine.miner = nil
	}
}

// onMined appends a block our miner found and announces it to every peer.
func (n *Node) onMined(b *chain.Block) {
	if n.mine.miner == nil || b.Height != n.chain.Height() || n.mine.miner.tmpl.Prev != n.chain.TipHash() {
		return // the tip moved meanwhile: stale
	}
	n.addMined(b, n.mine.miner.words)
}

// addMined appends b, a block mined on our tip with the first words queued
// words, announces it to every peer and mines on top of it. The simulator
// hands its injected blocks to it too.
func (n *Node) addMined(b *chain.Block, words int) {
	if err := n.chain.Append(b); err != nil {
		n.log.Error().Err(err).Msg("mined block refused by our own chain")
		n.restartMining()
		return
	}
	n.mine.words = n.mine.words[words:]
	n.stats.Mined++
	n.mine.lastMined = n.cfg.Now()
	n.log.Info().Int("top", b.Height).Int("blocks", b.Height+1).Str("hash", chain.ShortHash(b.Hash)).Strs("messages", b.Messages).
		Int("peers", n.members.Len()).Msg("mined a block: announcing")
	prev := ""
	if b.Height > 0 {
		prev = n.chain.HashAt(b.Height - 1)
	}
	n.emit(Event{Time: n.mine.lastMined, Kind: EventMined, Blocks: b.Height + 1, Hash: b.Hash, Prev: prev, Index: b.Height,
		By: b.MinedBy, Words: b.Messages, Text: fmt.Sprintf("mined #%d %s %q", b.Height, chain.ShortHash(b.Hash), b.Messages)})
	n.obs.tip, n.obs.tipAt = b.Hash, n.mine.lastMined // told as mined, not again as a tip
	held := make(map[netip.AddrPort]heldTip, n.members.Len())
	for _, m := range n.members.All() {
		if !m.Proven {
			continue // an address only named in a message may be anyone's: no block is sent there
		}
		n.send(m.Addr, protocol.Announce{Block: b})
		if m.Height == b.Height && m.Hash == prev && !m.ReportedAt.IsZero() {
			// It was on our chain (or had none, for our genesis): with
			// this block it holds ours.
			held[m.Addr] = heldTip{Height: b.Height + 1, Hash: b.Hash, At: n.mine.lastMined}
		} else if t, ok := n.heldTips[m.Addr]; ok && t.Hash == prev {
			held[m.Addr] = heldTip{Height: b.Height + 1, Hash: b.Hash, At: n.mine.lastMined}
		}
	}
	n.heldTips = held
	n.restartMining()
}

// wordsThatFit returns how many queued words, from the first, go in the
// next block: at most chain.MaxMessages, and no more than fit in one
// datagram with our name. Those that do not fit wait for the next block,
// in their order (four-byte characters take 80 bytes a word). The first
// always fits: see CheckName and onNewWord.
func (n *Node) wordsThatFit(timestamp int64) int {
	limit := min(len(n.mine.words), chain.MaxMessages)
	k := 0
	for k < limit && blockFits(n.chain.Height(), timestamp, n.cfg.Name, n.mine.words[:k+1]) {
		k++
	}
	if k < limit {
		n.log.Debug().Int("words", k).Int("queued", len(n.mine.words)).
			Msgf("mining fewer words: more would not fit in %d bytes; the rest wait for the next block", protocol.MaxDatagram)
	}
	return k
}

func (n *Node) onNewWord(from netip.AddrPort, word string) {
	switch {
	case !n.cfg.Mine:
		n.log.Debug().Str("from", from.String()).Msg("NEW_WORD ignored: not mining")
	case word == "" || utf8.RuneCountInString(word) > protocol.MaxWordRunes || !utf8.ValidString(word):
		n.log.Info().Str("from", from.String()).Int("chars", utf8.RuneCountInString(word)).
			Msgf("NEW_WORD refused: a word must have 1 to %d characters", protocol.MaxWordRunes)
	case !anyBlockFits(n.cfg.Name, []string{word}):
		// CheckName leaves room for any one word: this cannot happen,
		// but a word that never fits would hold back all the others.
		n.log.Info().Str("from", from.String()).Msgf("NEW_WORD refused: a block with it and our name would not fit in %d bytes", protocol.MaxDatagram)
	case len(n.mine.words) >= n.cfg.Limits.QueuedWords:
		n.log.Info().Str("from", from.String()).Msg("NEW_WORD refused: queue full")
	default:
		n.mine.words = append(n.mine.words, word)
		n.log.Info().Str("word", word).Int("queued", len(n.mine.words)).Msg("NEW_WORD queued")
		n.emit(Event{Kind: EventWord, Blocks: n.chain.Height(), Peer: from.String(), Words: []string{word},
			Text: fmt.Sprintf("NEW_WORD %q queued (%d waiting)", word, len(n.mine.words))})
		if n.mine.miner != nil && n.mine.restAt.IsZero() && n.mine.miner.words < chain.MaxMessages &&
			blockFits(n.mine.miner.tmpl.Height, n.mine.miner.tmpl.Timestamp, n.cfg.Name, n.mine.words[:n.mine.miner.words+1]) {
			n.restartMining() // put it in the block being mined (when it fits there)
		}
	}
}

// heldTip is a peer's chain as we infer it: it was on our chain and we
// ANNOUNCEd our next block to it.
type heldTip struct {
	Height int
	Hash   string
	At     time.Time
}

// SetMining turns the miner on or off, with minInterval as its
// MinBlockInterval (the lab gives a second node a miner for a
// partition). A node without a chain mines a genesis only if it was
// configured to.
func (n *Node) SetMining(ctx context.Context, on bool, minInterval time.Duration) error {
	return n.do(ctx, func() {
		n.cfg.MinBlockInterval = max(minInterval, 0)
		if n.cfg.Mine == on {
			return
		}
		n.cfg.Mine = on
		n.mine.restAt = time.Time{}
		if on {
			n.log.Info().Msg("miner on")
		} else {
			n.log.Info().Msg("miner off")
		}
		n.restartMining()
	})
}
