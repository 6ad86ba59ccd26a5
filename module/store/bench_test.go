package store

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// The benchmarks run 16 goroutines per core (SetParallelism), 32 on this
// 2-core machine like the load test's 32 connections.

func benchBackends(b *testing.B, run func(b *testing.B, s Store)) {
	b.Run("embedded", func(b *testing.B) { run(b, openLog(b, b.TempDir())) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		run(b, newRedis(b, RedisConfig{URL: srv.URL(), KeyPrefix: "bench:"}))
	})
}

var benchSeq atomic.Int64

func uniqueClaim() Claim {
	n := strconv.FormatInt(benchSeq.Add(1), 10)
	return Claim{Scope: "bench", Nonce: "n" + n, NonceTTL: 10 * time.Minute, Key: "id:" + n, Window: time.Hour, Lease: time.Minute}
}

// BenchmarkClaimCommit is the synchronous path: claim, then commit.
func BenchmarkClaimCommit(b *testing.B) {
	benchBackends(b, func(b *testing.B, s Store) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c := uniqueClaim()
				if o, err := s.Claim(ctx, c); err != nil || o != Claimed {
					b.Errorf("Claim: %v %v", o, err)
					return
				}
				if err := s.Commit(ctx, c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkClaimCommitSerial is one caller alone: batching concurrent
// calls must not slow it down.
func BenchmarkClaimCommitSerial(b *testing.B) {
	benchBackends(b, func(b *testing.B, s Store) {
		b.ReportAllocs()
		for b.Loop() {
			c := uniqueClaim()
			if o, err := s.Claim(ctx, c); err != nil || o != Claimed {
				b.Fatalf("Claim: %v %v", o, err)
			}
			if err := s.Commit(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClaimEnqueue is the asynchronous path: claim, then enqueue a 1 KB
// event for one destination with the claim's commit.
func BenchmarkClaimEnqueue(b *testing.B) {
	ev := event("e")
	ev.Body = make([]byte, 1024)
	benchBackends(b, func(b *testing.B, s Store) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c := uniqueClaim()
				if o, err := s.Claim(ctx, c); err != nil || o != Claimed {
					b.Errorf("Claim: %v %v", o, err)
					return
				}
				if err := s.Enqueue(ctx, c, []string{destA}, ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
