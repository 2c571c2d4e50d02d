package miner

import (
	"context"
	"crypto/sha256"
	"encoding"
	"hash"
	"runtime"
	"sync/atomic"
	"testing"
)

// benchTemplate is a typical block at an impossible difficulty, so that a
// search never stops early.
var benchTemplate = Template{
	Prev: prevHash, Height: 1000, MinedBy: "blockpeer",
	Messages:  []string{"hello from blockpeer", "second message"},
	Timestamp: 1_731_000_000, Difficulty: 64,
}

func reportHashRate(b *testing.B, hashes uint64) {
	b.ReportMetric(float64(hashes)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkSearchHashRate is one goroutine's hot loop: exactly b.N tries.
func BenchmarkSearchHashRate(b *testing.B) {
	p, err := prepare(benchTemplate, 1, ctrWidth)
	if err != nil {
		b.Fatal(err)
	}
	w := p.newWorker(0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	tried, found, _ := w.try(b.N)
	b.StopTimer()
	if found || tried != b.N {
		b.Fatalf("tried %d of %d, found %v", tried, b.N, found)
	}
	reportHashRate(b, uint64(b.N))
}

// BenchmarkSearchAllCores runs Search itself with NumCPU goroutines, each
// stopping after its share of b.N tries.
func BenchmarkSearchAllCores(b *testing.B) {
	threads := runtime.NumCPU()
	per := max(uint64(b.N/threads), 1)
	var hashes atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	_, err := search(context.Background(), benchTemplate, threads, &hashes, options{ctrWidth: ctrWidth, maxTries: per})
	b.StopTimer()
	if err != ErrExhausted {
		b.Fatal(err)
	}
	reportHashRate(b, hashes.Load())
	b.ReportMetric(float64(threads), "threads")
}

// BenchmarkSHA256Block64 hashes one 64-byte message with sha256.Sum256,
// for comparison. Note that this is two compressions (the 64 bytes, then a
// block of padding and length), while a mining try costs one.
func BenchmarkSHA256Block64(b *testing.B) { benchSum256(b, 64) }

// BenchmarkSHA256Block55 is the one-compression case: the longest message
// whose padding still fits in its block. It is the floor a try can reach.
func BenchmarkSHA256Block55(b *testing.B) { benchSum256(b, 55) }

func benchSum256(b *testing.B, size int) {
	msg := make([]byte, size)
	var sink byte
	for i := 0; b.Loop(); i++ {
		msg[0] = byte(i)
		sum := sha256.Sum256(msg)
		sink ^= sum[0]
	}
	_ = sink
	reportHashRate(b, uint64(b.N))
}

// The two ways to restore the saved prefix state per try, measured on the
// same work (restore, write a 12-byte counter, finish).

func BenchmarkRestoreUnmarshal(b *testing.B) {
	h := sha256.New()
	h.Write(make([]byte, 140))
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	u := h.(encoding.BinaryUnmarshaler)
	ctr := []byte("000000000000")
	sum := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		u.UnmarshalBinary(state)
		h.Write(ctr)
		sum = h.Sum(sum[:0])
		increment(ctr)
	}
	reportHashRate(b, uint64(b.N))
}

func BenchmarkRestoreClone(b *testing.B) {
	h := sha256.New()
	h.Write(make([]byte, 140))
	base := h.(hash.Cloner)
	ctr := []byte("000000000000")
	sum := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		c, _ := base.Clone()
		hc := c.(hash.Hash)
		hc.Write(ctr)
		sum = hc.Sum(sum[:0])
		increment(ctr)
	}
	reportHashRate(b, uint64(b.N))
}
