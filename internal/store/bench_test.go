package store

import (
	"fmt"
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
	return Claim{Scope: "bench", Key: "id:" + n, Nonce: "n" + n, TTL: time.Hour, Lease: time.Minute}
}

// benchParallel runs op with a new claim each time, from many goroutines.
func benchParallel(b *testing.B, op func(s Store, c Claim) error) {
	benchBackends(b, func(b *testing.B, s Store) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(s, uniqueClaim()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// claimed is the error of a claim that was not Claimed.
func claimed(o Outcome, err error) error {
	if err != nil || o != Claimed {
		return fmt.Errorf("claim: %v %v", o, err)
	}
	return nil
}

// BenchmarkClaimCommit is the synchronous path: claim, then commit.
func BenchmarkClaimCommit(b *testing.B) {
	benchParallel(b, func(s Store, c Claim) error {
		if err := claimed(s.Claim(ctx, c)); err != nil {
			return err
		}
		return s.Commit(ctx, c)
	})
}

// BenchmarkClaimCommitSerial is one caller alone: batching concurrent
// calls must not slow it down.
func BenchmarkClaimCommitSerial(b *testing.B) {
	benchBackends(b, func(b *testing.B, s Store) {
		b.ReportAllocs()
		for b.Loop() {
			c := uniqueClaim()
			if err := claimed(s.Claim(ctx, c)); err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClaimEnqueue is the asynchronous path as two calls: claim, then
// enqueue a 1 KB event for one destination with the claim's commit.
func BenchmarkClaimEnqueue(b *testing.B) {
	ev := event("e")
	ev.Body = make([]byte, 1024)
	benchParallel(b, func(s Store, c Claim) error {
		if err := claimed(s.Claim(ctx, c)); err != nil {
			return err
		}
		return s.Enqueue(ctx, c, []string{destA}, ev)
	})
}

// BenchmarkClaimEnqueueOneCall is the asynchronous path as one call, as
// the gateway makes it.
func BenchmarkClaimEnqueueOneCall(b *testing.B) {
	ev := event("e")
	ev.Body = make([]byte, 1024)
	benchParallel(b, func(s Store, c Claim) error {
		return claimed(s.(ClaimEnqueuer).ClaimEnqueue(ctx, c, []string{destA}, ev))
	})
}
