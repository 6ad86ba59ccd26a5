package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// gate holds every pipeline (but a new connection's set-up) until
// released, and records how many commands each carried and how many were
// in flight at most.
type gate struct {
	release  chan struct{}
	entered  chan int // a pipeline's command count, as it is held
	inFlight atomic.Int64
	most     atomic.Int64
}

func (*gate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if name := cmds[0].Name(); name == "hello" || name == "client" {
			return next(ctx, cmds) // a new connection's set-up
		}
		n := g.inFlight.Add(1)
		for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		}
		g.entered <- len(cmds)
		<-g.release
		g.inFlight.Add(-1)
		return next(ctx, cmds)
	}
}

// TestBatcher: maxInFlight pipelines go out at once; the calls made
// meanwhile wait and then share one pipeline, and one EVALSHA per script.
func TestBatcher(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix()})
	mustClaimEnqueue(t, r, claim("b", "warm", "up"), []string{destA}, "warm", Claimed) // loads the script
	g := &gate{release: make(chan struct{}), entered: make(chan int, 100)}
	r.Client().AddHook(g)

	const queued = 10
	var wg sync.WaitGroup
	claimAll := func(from, n int) {
		for i := from; i < from+n; i++ {
			wg.Go(func() {
				o, err := r.ClaimEnqueue(ctx, claim("b", fmt.Sprint("k", i), fmt.Sprint("n", i)), []string{destA}, event(fmt.Sprint("e", i)))
				if err != nil || o != Claimed {
					t.Errorf("claim %d: %v %v", i, o, err)
				}
			})
		}
	}
	claimAll(0, maxInFlight)
	for range maxInFlight {
		if n := <-g.entered; n != 1 {
			t.Fatalf("a first pipeline carried %d commands, want 1", n)
		}
	}
	claimAll(maxInFlight, queued) // every place is taken: these queue up
	waitFor(t, func() bool {
		r.batch.mu.Lock()
		defer r.batch.mu.Unlock()
		return len(r.batch.queue) == queued
	})
	select {
	case n := <-g.entered:
		t.Fatalf("a pipeline of %d commands went out beyond %d in flight", n, maxInFlight)
	default:
	}
	close(g.release)
	if n := <-g.entered; n != 1 { // the queued calls' one EVALSHA
		t.Fatalf("the queued calls went out as %d commands, want one EVALSHA", n)
	}
	wg.Wait()
	if m := g.most.Load(); m != maxInFlight {
		t.Fatalf("%d pipelines in flight at most, want %d", m, maxInFlight)
	}
	if len(g.entered) != 0 {
		t.Fatalf("%d more pipelines, want none", len(g.entered))
	}
}
