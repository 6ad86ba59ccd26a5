package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"strconv"
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
		{name: "bad scheme", cfg: RedisConfig{URL: "http://127.0.0.1"}, wantErr: "must start with redis://"},
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
	mustClaim(t, r, claim("s", "k0", "n0"), Claimed)
	srv.Stop()

	c := claim("s", "k1", "n1")
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
	mustClaim(t, r, claim("s", "k1", "n2"), Duplicate)
	wantIDs(t, fetch(t, r, destA, "c", 10, time.Minute), "e1")
}

// TestRedisAppendOnlyRestart: with appendonly, committed keys and queued
// events survive a Redis restart.
func TestRedisAppendOnlyRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAppendOnly())
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "aof:"})
	c := claim("s", "k1", "n1")
	mustClaim(t, r, c, Claimed)
	must(t, r.Enqueue(ctx, c, []string{destA}, event("e1")))
	srv.Stop()
	srv.Start()
	mustClaim(t, r, claim("s", "k1", "n2"), Duplicate)
	mustClaim(t, r, c, Replayed)
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

// TestRedisOneRoundTrip: each call is one round trip (the hook counts
// them) and costs Redis the commands it should (INFO commandstats, summed
// over the servers, before and after each call): a new event is 2
// commands synchronously (SET NX GET, SET) and, asynchronously, one EVALSHA
// running 2 (SET NX GET, XADD per destination) on one server.
func TestRedisOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3)
	for _, servers := range [][]*redistest.Server{{srv}, cluster.Nodes} {
		cfg := RedisConfig{URL: srv.URL()}
		if len(servers) > 1 {
			cfg = RedisConfig{Addrs: cluster.Addrs()}
		}
		r := newRedis(t, cfg)
		hook := &roundTrips{}
		r.Client().AddHook(hook)
		type counts = map[string]int64
		inScript := func(single, cluster counts) counts {
			if r.cluster {
				return cluster
			}
			return single
		}
		ops := []struct {
			name     string
			run      func(c Claim) error
			commands counts
		}{
			{"Claim", func(c Claim) error { _, err := r.Claim(ctx, c); return err }, counts{"set": 1}},
			{"Release", func(c Claim) error { return r.Release(ctx, c) },
				counts{"evalsha": 1, "get": 1, "del": 1}},
			{"Claim again", func(c Claim) error { _, err := r.Claim(ctx, c); return err }, counts{"set": 1}},
			{"Commit", func(c Claim) error { return r.Commit(ctx, c) }, counts{"set": 1}},
			{"Claim refused", func(c Claim) error {
				if o, err := r.Claim(ctx, c); err != nil || o != Replayed {
					return fmt.Errorf("%v %v, want replayed", o, err)
				}
				return nil
			}, counts{"set": 1}},
			{"Enqueue", func(c Claim) error { return r.Enqueue(ctx, c, []string{destA}, event("e")) },
				inScript(counts{"evalsha": 1, "xadd": 1, "set": 1}, counts{"xadd": 1, "set": 1})},
			{"ClaimEnqueue", func(c Claim) error {
				c.Key += "ce" // unclaimed
				if o, err := r.ClaimEnqueue(ctx, c, []string{destA}, event("e")); err != nil || o != Claimed {
					return fmt.Errorf("%v %v, want claimed", o, err)
				}
				return nil
			}, inScript(counts{"evalsha": 1, "set": 1, "xadd": 1}, counts{"set": 2, "xadd": 1})},
		}
		for i := range 2 { // the first pass loads the scripts
			for _, op := range ops {
				hook.n.Store(0)
				before := commandStats(t, servers)
				must(t, op.run(claim("rt", fmt.Sprint("k", i), fmt.Sprint("n", i))))
				if i == 0 {
					continue
				}
				want := int64(1)
				if op.name == "ClaimEnqueue" && r.cluster {
					want = 2 // claim, then the pipeline of the streams' slots
				}
				if n := hook.n.Load(); n != want {
					t.Errorf("%v %s: %d round trips, want %d", cfg.Addrs, op.name, n, want)
				}
				if got := commandsSince(t, servers, before); !maps.Equal(got, op.commands) {
					t.Errorf("%v %s: commands %v, want %v", cfg.Addrs, op.name, got, op.commands)
				}
			}
		}
	}
}

// commandStats sums INFO commandstats' calls per command over servers.
func commandStats(t *testing.T, servers []*redistest.Server) map[string]int64 {
	t.Helper()
	calls := map[string]int64{}
	for _, srv := range servers {
		info, err := srv.Do("INFO", "commandstats")
		must(t, err)
		for line := range strings.Lines(info) {
			name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			calls[name] += n
		}
	}
	return calls
}

// commandsSince is what the servers ran since before, but the bookkeeping
// of the test (INFO) and of the clients (connection setup, Cluster
// topology).
func commandsSince(t *testing.T, servers []*redistest.Server, before map[string]int64) map[string]int64 {
	t.Helper()
	ran := map[string]int64{}
	for name, n := range commandStats(t, servers) {
		family, _, _ := strings.Cut(name, "|")
		switch family {
		case "info", "hello", "client", "cluster", "command", "ping", "auth", "select", "readonly":
			continue
		}
		if d := n - before[name]; d != 0 {
			ran[name] = d
		}
	}
	return ran
}
