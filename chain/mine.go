package chain

import "strconv"

// Mine searches nonces 0, 1, 2, ... for b until its hash on top of prev
// meets difficulty, then sets b.Nonce and b.Hash. It is single-threaded and
// simple: good for building test chains at low difficulty. It gives up after
// maxTries and returns false.
func Mine(prev string, b *Block, difficulty int, maxTries uint64) bool {
	for n := uint64(0); n < maxTries; n++ {
		b.Nonce = strconv.FormatUint(n, 10)
		if h := ComputeHash(prev, b); MeetsDifficulty(h, difficulty) {
			b.Hash = h
			return true
		}
	}
	return false
}

// Extend mines n more blocks on top of blocks (nil for a new chain from
// genesis), minedBy tag and with messages naming tag, so that two extensions
// of one chain differ; timestamps are start+height. For tests and the lab.
func Extend(blocks []*Block, n, difficulty int, tag string, start int64) []*Block {
	out := append([]*Block(nil), blocks...)
	for i := 0; i < n; i++ {
		h := len(out)
		prev := ""
		if h > 0 {
			prev = out[h-1].Hash
		}
		msg := tag + " " + strconv.Itoa(h)
		if len(msg) > MaxMessageRunes {
			panic("chain.Extend: tag too long for a message: " + tag)
		}
		b := &Block{Height: h, MinedBy: tag, Messages: []string{msg}, Timestamp: start + int64(h)}
		if !Mine(prev, b, difficulty, 1<<62) {
			panic("chain.Extend: nonce space exhausted")
		}
		out = append(out, b)
	}
	return out
}
