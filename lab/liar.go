package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"blockpeer/chain"
	"blockpeer/miner"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// liar is a peer that claims a taller chain than the lab's: the seed's
// blocks up to a height, then forged blocks (hashes that meet the
// difficulty but are not the blocks' hashes) that reach lead blocks above
// the seed's top, the top one really mined. It joins by GOSSIP, answers
// STATS and GET_BLOCK, and keeps its lie ahead as the seed mines. Honest
// nodes fetch its chain, find the forged blocks invalid, refuse it as a
// backer of that chain and ban it.
type liar struct {
	name   string
	tr     *peer.UDP
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	blocks []*chain.Block
	peers  map[netip.AddrPort]bool
}

// liarLead is how many blocks the liar claims above the seed.
const liarLead = 5

// startLiar starts a liar whose forged blocks begin at the seed's top
// block minus back (at least block 1).
func (l *Lab) startLiar(ctx context.Context, back int) (*liar, error) {
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("liar: %w", err)
	}
	lctx, cancel := context.WithCancel(ctx)
	lr := &liar{name: l.cfg.Prefix + "liar", tr: tr, cancel: cancel, done: make(chan struct{}), peers: map[netip.AddrPort]bool{l.seedAddr: true}}
	seedSlot := l.slots[0]
	seed := func() *peer.Node { return l.nodeOf(seedSlot) } // the seed as it runs now
	l.narr.name(tr.LocalAddr().String(), lr.name)
	go lr.run(lctx, seed, back, l.cfg.Difficulty)
	return lr, nil
}

func (lr *liar) stop() {
	lr.cancel()
	<-lr.done
	lr.tr.Close()
}

// forge rebuilds the lie: the seed's first blocks, then forged ones up to
// liarLead above the seed's top. The top block alone is really mined (on
// top of the forged one below it), so that the liar's claim shows a valid
// proof of work and honest nodes fetch its chain, find the forged blocks
// and refuse it: a claim whose top block is forged too is never fetched
// at all.
func (lr *liar) forge(ctx context.Context, seed func() *peer.Node, back, difficulty int) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	node := seed()
	h, err := node.Height(cctx)
	if err != nil || h == 0 {
		return
	}
	lr.mu.Lock()
	ahead := len(lr.blocks) > h
	lr.mu.Unlock()
	if ahead {
		return // still ahead
	}
	from := max(1, h-back)
	honest, err := node.Blocks(cctx, 0, from)
	if err != nil {
		return
	}
	out := make([]*chain.Block, 0, h+liarLead)
	for i := range honest {
		out = append(out, &honest[i])
	}
	for i := len(out); i < h+liarLead; i++ {
		out = append(out, &chain.Block{Height: i, MinedBy: lr.name, Nonce: "0", Messages: []string{"trust me"},
			Hash: forgedHash(difficulty), Timestamp: time.Now().Unix()})
	}
	top := out[len(out)-1]
	mined, err := miner.Search(ctx, miner.Template{Prev: out[len(out)-2].Hash, Height: top.Height, MinedBy: top.MinedBy,
		Messages: top.Messages, Timestamp: top.Timestamp, Difficulty: difficulty}, 1, nil)
	if err != nil {
		return // stopped (the search looks at ctx every few thousand tries)
	}
	out[len(out)-1] = mined
	lr.mu.Lock()
	lr.blocks = out
	lr.mu.Unlock()
}

// forgedHash is a random hash that meets the difficulty: it passes a
// look at the block's fields, and fails its verification.
func forgedHash(difficulty int) string {
	b := make([]byte, 32)
	rand.Read(b)
	s := hex.EncodeToString(b)
	return s[:64-difficulty] + strings.Repeat("0", difficulty)
}

func (lr *liar) run(ctx context.Context, seed func() *peer.Node, back, difficulty int) {
	defer close(lr.done)
	lr.forge(ctx, seed, back, difficulty)
	gossip := time.NewTicker(2 * time.Second)
	defer gossip.Stop()
	lr.gossip()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gossip.C:
			lr.forge(ctx, seed, back, difficulty)
			lr.gossip()
		case p, ok := <-lr.tr.Packets():
			if !ok {
				return
			}
			lr.answer(p)
		}
	}
}

func (lr *liar) send(to netip.AddrPort, m protocol.Message) {
	if data, err := protocol.Encode(m); err == nil {
		lr.tr.Send(to, data)
	}
}

func (lr *liar) gossip() {
	a := lr.tr.LocalAddr()
	id := make([]byte, 16)
	rand.Read(id)
	g := protocol.Gossip{Host: a.Addr().String(), Port: int(a.Port()), ID: hex.EncodeToString(id), Name: lr.name}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for to := range lr.peers {
		lr.send(to, g)
	}
}

func (lr *liar) answer(p peer.Packet) {
	m, err := protocol.Parse(p.Data)
	if err != nil {
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	a := lr.tr.LocalAddr()
	switch m := m.(type) {
	case protocol.Gossip:
		if len(lr.peers) < 100 {
			if ip, err := netip.ParseAddr(m.Host); err == nil && ip.IsLoopback() {
				lr.peers[netip.AddrPortFrom(ip, uint16(m.Port))] = true
			}
		}
		lr.send(p.From, protocol.GossipReply{Host: a.Addr().String(), Port: int(a.Port()), Name: lr.name})
	case protocol.GossipReply:
		lr.peers[p.From] = true
	case protocol.Stats:
		if n := len(lr.blocks); n > 0 {
			lr.send(p.From, protocol.StatsReply{Height: n, Hash: lr.blocks[n-1].Hash})
		}
	case protocol.GetBlock:
		var b *chain.Block
		if m.Height >= 0 && m.Height < len(lr.blocks) {
			b = lr.blocks[m.Height]
		}
		lr.send(p.From, protocol.GetBlockReply{Block: b})
	}
}
