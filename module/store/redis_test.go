package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

func TestRedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	runConformance(t, backend{"cluster", func(t *testing.T) Store {
		r := newRedis(t, RedisConfig{Addrs: cluster.Addrs(), KeyPrefix: uniquePrefix()})
		if !r.cluster {
			t.Fatal("three addresses must make a Cluster client")
		}
		return r
	}})
}

func TestNewRedisConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     RedisConfig
		wantErr string
		check   func(t *testing.T, c redis.UniversalClient)
	}{
		{name: "url", cfg: RedisConfig{URL: "redis://u:p@127.0.0.1:1/3"}, check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Addr != "127.0.0.1:1" || o.DB != 3 || o.Username != "u" || o.Password != "p" || o.TLSConfig != nil {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "fields win over the url", cfg: RedisConfig{URL: "redis://u:p@127.0.0.1:1/3", Username: "v", Password: "q", DB: 4}, check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Username != "v" || o.Password != "q" || o.DB != 4 {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "rediss is TLS", cfg: RedisConfig{URL: "rediss://cache.example:6380"}, check: func(t *testing.T, c redis.UniversalClient) {
			if o := c.(*redis.Client).Options(); o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" {
				t.Fatalf("TLS config %+v", o.TLSConfig)
			}
		}},
		{name: "cluster with tls", cfg: RedisConfig{Addrs: []string{"a:1", "b:1", "c:1"}, TLS: true}, check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.ClusterClient).Options()
			if len(o.Addrs) != 3 || o.TLSConfig == nil || o.TLSConfig.MinVersion != tls.VersionTLS12 {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "sentinel", cfg: RedisConfig{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "main"}, check: func(t *testing.T, c redis.UniversalClient) {
			if _, ok := c.(*redis.Client); !ok {
				t.Fatalf("sentinel gave %T", c)
			}
		}},
		{name: "nothing", cfg: RedisConfig{}, wantErr: "required"},
		{name: "bad scheme", cfg: RedisConfig{URL: "http://127.0.0.1"}, wantErr: "scheme"},
		{name: "bad url keeps the password out", cfg: RedisConfig{URL: "redis://u:s3cret@[::1"}, wantErr: "redis URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedis(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err = %v, want %q without the password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			tt.check(t, r.Client())
		})
	}
}

// TestRedisDownAndBack stops Redis under a live client: every call fails
// with ErrUnavailable, and the same client works again after a restart
// (which also flushed the script cache).
func TestRedisDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "down:"})
	mustClaim(t, r, claim("s", "n0", "k0"), Claimed)
	srv.Stop()

	c := claim("s", "n1", "k1")
	calls := map[string]func(ctx context.Context) error{
		"Ping":    r.Ping,
		"Claim":   func(ctx context.Context) error { _, err := r.Claim(ctx, c); return err },
		"Commit":  func(ctx context.Context) error { return r.Commit(ctx, c) },
		"Release": func(ctx context.Context) error { return r.Release(ctx, c) },
		"Enqueue": func(ctx context.Context) error { return r.Enqueue(ctx, c, []string{destA}, event("e1")) },
		"ClaimEnqueue": func(ctx context.Context) error {
			_, err := r.ClaimEnqueue(ctx, c, []string{destA}, event("e1"))
			return err
		},
		"Fetch": func(ctx context.Context) error {
			_, err := r.Fetch(ctx, destA, "c", 1, time.Minute)
			return err
		},
		"Ack":   func(ctx context.Context) error { return r.Ack(ctx, Delivery{Destination: destA, Handle: "1-0"}) },
		"Stats": func(ctx context.Context) error { _, err := r.Stats(ctx, destA); return err },
		"DeadLetters": func(ctx context.Context) error {
			_, err := r.DeadLetters(ctx, destA, "", 1)
			return err
		},
		"Redrive": func(ctx context.Context) error { _, err := r.Redrive(ctx, destA, nil); return err },
	}
	for name, call := range calls {
		if err := call(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", name, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Ping(cctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Ping: %v", err)
	}

	srv.Start()
	// go-redis probes a refused address once a second before dialing again.
	deadline := time.Now().Add(5 * time.Second)
	for r.Ping(ctx) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	mustClaim(t, r, c, Claimed)
	must(t, r.Enqueue(ctx, c, []string{destA}, event("e1")))
	mustClaim(t, r, claim("s", "n2", "k1"), Duplicate)
	wantIDs(t, fetch(t, r, destA, "c", 10, time.Minute), "e1")
}

// TestRedisAppendOnlyRestart: with appendonly, committed keys and queued
// events survive a Redis restart.
func TestRedisAppendOnlyRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAppendOnly())
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "aof:"})
	c := claim("s", "n1", "k1")
	mustClaim(t, r, c, Claimed)
	must(t, r.Enqueue(ctx, c, []string{destA}, event("e1")))
	srv.Stop()
	srv.Start()
	mustClaim(t, r, claim("s", "n2", "k1"), Duplicate)
	wantIDs(t, fetch(t, r, destA, "c", 10, time.Minute), "e1")
}

// roundTrips counts commands and pipelines sent, each one round trip.
type roundTrips struct{ n atomic.Int64 }

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func TestRedisOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3)
	for _, cfg := range []RedisConfig{{URL: srv.URL()}, {Addrs: cluster.Addrs()}} {
		r := newRedis(t, cfg)
		hook := &roundTrips{}
		r.Client().AddHook(hook)
		ops := []struct {
			name string
			run  func(c Claim) error
		}{
			{"Claim", func(c Claim) error { _, err := r.Claim(ctx, c); return err }},
			{"Release", func(c Claim) error { return r.Release(ctx, c) }},
			{"Claim again", func(c Claim) error { _, err := r.Claim(ctx, c); return err }},
			{"Commit", func(c Claim) error { return r.Commit(ctx, c) }},
			{"Enqueue", func(c Claim) error { return r.Enqueue(ctx, c, []string{destA, destB}, event("e")) }},
			{"ClaimEnqueue", func(c Claim) error {
				c.Nonce, c.Key = c.Nonce+"ce", c.Key+"ce" // unclaimed
				_, err := r.ClaimEnqueue(ctx, c, []string{destA, destB}, event("e"))
				return err
			}},
		}
		for i := range 2 { // the first pass loads the scripts
			for _, op := range ops {
				hook.n.Store(0)
				must(t, op.run(claim("rt", fmt.Sprint("n", i), fmt.Sprint("k", i))))
				want := int64(1)
				if op.name == "ClaimEnqueue" && r.cluster {
					want = 2 // claim, then the pipeline of the streams' slots
				}
				if n := hook.n.Load(); i == 1 && n != want {
					t.Errorf("%v %s: %d round trips, want %d", cfg.Addrs, op.name, n, want)
				}
			}
		}
	}
}
