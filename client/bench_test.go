package client_test

import (
	"context"
	"io"
	"testing"
	"time"

	"blockpeer/client"
)

// BenchmarkChain5000 fetches and verifies a 5,000-block chain from a real
// node over loopback: ask's `chain` command, pipelined.
func BenchmarkChain5000(b *testing.B) {
	addr := startNode(b, testChain(5000))
	c, err := client.Dial(context.Background(), client.Config{Target: addr.String(), Timeout: time.Second, Difficulty: testDifficulty})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		if err := c.Do([]string{"chain"}, io.Discard, client.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(5000*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}
