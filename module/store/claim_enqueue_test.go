package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

func TestRedisClaimEnqueue(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3)
	for name, cfg := range map[string]RedisConfig{"single": {URL: srv.URL()}, "cluster": {Addrs: cluster.Addrs()}} {
		t.Run(name, func(t *testing.T) {
			for _, test := range []struct {
				name string
				run  func(t *testing.T, s Store)
			}{
				{"outcomes", testClaimEnqueueOutcomes},
				{"concurrent", testClaimEnqueueConcurrent},
				{"failed enqueue", testClaimEnqueueFailed},
			} {
				t.Run(test.name, func(t *testing.T) {
					cfg := cfg
					cfg.KeyPrefix = uniquePrefix()
					test.run(t, newRedis(t, cfg))
				})
			}
		})
	}
}

func mustClaimEnqueue(t *testing.T, s Store, c Claim, id string, want Outcome) {
	t.Helper()
	got, err := s.(ClaimEnqueuer).ClaimEnqueue(ctx, c, []string{destA, destB}, event(id))
	if err != nil {
		t.Fatalf("ClaimEnqueue(%s): %v", id, err)
	}
	if got != want {
		t.Fatalf("ClaimEnqueue(%s, nonce %q, key %q) = %v, want %v", id, c.Nonce, c.Key, got, want)
	}
}

// testClaimEnqueueOutcomes: the outcomes are Claim's, only a Claimed event
// is queued, and it is queued with its claim committed.
func testClaimEnqueueOutcomes(t *testing.T, s Store) {
	mustClaimEnqueue(t, s, claim("a", "n1", "k1"), "e1", Claimed)
	mustClaim(t, s, claim("a", "n2", "k1"), Duplicate) // committed, not in flight
	mustClaim(t, s, claim("a", "n1", "k2"), Replayed)
	mustClaimEnqueue(t, s, claim("a", "n1", "k3"), "replayed", Replayed)
	mustClaimEnqueue(t, s, claim("a", "n3", "k1"), "duplicate", Duplicate)
	mustClaim(t, s, claim("a", "n4", "k4"), Claimed) // a synchronous request in flight
	mustClaimEnqueue(t, s, claim("a", "n5", "k4"), "in_progress", InProgress)
	mustClaimEnqueue(t, s, claim("a", "n4", "k5"), "replayed_in_flight", Replayed)
	// Nothing was taken by the refused calls: their nonces and keys are free.
	mustClaimEnqueue(t, s, claim("a", "n3", "k3"), "e2", Claimed)
	mustClaimEnqueue(t, s, claim("a", "", "k6"), "e3", Claimed)
	mustClaimEnqueue(t, s, claim("a", "", "k6"), "key_only_again", Duplicate)
	mustClaimEnqueue(t, s, claim("a", "n6", ""), "e4", Claimed)
	mustClaimEnqueue(t, s, claim("a", "n6", ""), "nonce_only_again", Replayed)
	mustClaimEnqueue(t, s, Claim{Scope: "a"}, "e5", Claimed)
	mustClaimEnqueue(t, s, Claim{Scope: "a"}, "e6", Claimed)

	for _, dest := range []string{destA, destB} {
		got := fetch(t, s, dest, "c1", 10, time.Minute)
		wantIDs(t, got, "e1", "e2", "e3", "e4", "e5", "e6")
		ev := event("e1")
		if d := got[0]; !reflect.DeepEqual(d.Header, ev.Header) || string(d.Body) != string(ev.Body) ||
			d.Provider != ev.Provider || d.Attempts != 0 || d.Destination != dest {
			t.Fatalf("delivery %+v does not match event %+v", d, ev)
		}
	}

	// The commit keeps the nonce for NonceTTL and the key for Window.
	c := Claim{Scope: "e", Nonce: "n", NonceTTL: 100 * time.Millisecond, Key: "k", Window: 300 * time.Millisecond, Lease: time.Minute}
	mustClaimEnqueue(t, s, c, "e7", Claimed)
	time.Sleep(200 * time.Millisecond)
	mustClaim(t, s, c, Duplicate)
	time.Sleep(250 * time.Millisecond)
	mustClaim(t, s, c, Claimed)
}

// testClaimEnqueueFailed: a claim-enqueue whose queueing fails leaves the
// claim free (in a Cluster it is released), so the sender's retry goes
// through.
func testClaimEnqueueFailed(t *testing.T, s Store) {
	r := s.(*Redis)
	broken := "http://broken.internal/"
	must(t, r.Client().Set(ctx, r.queueKeys(broken).stream, "not a stream", 0).Err())
	c := claim("f", "n1", "k1")
	if o, err := r.ClaimEnqueue(ctx, c, []string{destA, broken}, event("e1")); err == nil {
		t.Fatalf("ClaimEnqueue to a broken stream: %v, want an error", o)
	}
	mustClaimEnqueue(t, s, c, "e1 again", Claimed)
}

// testClaimEnqueueConcurrent: of concurrent calls with one dedup key one
// queues its event; the others are told in progress or duplicate.
func testClaimEnqueueConcurrent(t *testing.T, s Store) {
	const n = 32
	winner := onlyOneClaims(t, n, func(i int) (Outcome, error) {
		return s.(ClaimEnqueuer).ClaimEnqueue(ctx, claim("c", fmt.Sprint("n", i), "same"),
			[]string{destA}, event(fmt.Sprint("e", i)))
	}, InProgress, Duplicate)
	wantIDs(t, fetch(t, s, destA, "c1", n, time.Minute), fmt.Sprint("e", winner))
}

// BenchmarkClaimEnqueueOneCall is the asynchronous path as one call, to
// compare with BenchmarkClaimEnqueue's two.
func BenchmarkClaimEnqueueOneCall(b *testing.B) {
	ev := event("e")
	ev.Body = make([]byte, 1024)
	srv := redistest.Start(b)
	s := newRedis(b, RedisConfig{URL: srv.URL(), KeyPrefix: "bench:"})
	b.Run("redis", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if o, err := s.ClaimEnqueue(ctx, uniqueClaim(), []string{destA}, ev); err != nil || o != Claimed {
					b.Errorf("ClaimEnqueue: %v %v", o, err)
					return
				}
			}
		})
	})
}

// TestRedisClaimEnqueueShared: the calls of one pipeline share one script
// call, yet each gets its own outcome; an item whose XADD fails fails alone;
// a server that lost its scripts gets them again.
func TestRedisClaimEnqueueShared(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix()})
	broken := "http://broken.internal/"
	if _, err := srv.Do("SET", r.queueKeys(broken).stream, "not a stream"); err != nil {
		t.Fatal(err)
	}
	mustClaimEnqueue(t, r, claim("s", "used", "done"), "e0", Claimed)
	for _, round := range []string{"a", "b"} {
		if round == "b" {
			if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
				t.Fatal(err)
			}
		}
		calls := []struct {
			c    Claim
			dest string
			want Outcome
			err  bool
		}{
			{claim("s", "n1"+round, "k1"+round), destA, Claimed, false},
			{claim("s", "used", "k2"+round), destA, Replayed, false},
			{claim("s", "n3"+round, "k3"+round), broken, 0, true},
			{claim("s", "n4"+round, "done"), destA, Duplicate, false},
			{Claim{Scope: "s"}, destA, Claimed, false},
		}
		batch := make([]*batchCall, len(calls))
		for i, c := range calls {
			batch[i] = claimEnqueueCall(t, r, c.c, c.dest, fmt.Sprint(round, i))
		}
		r.batch.send(ctx, batch)
		for i, c := range calls {
			if batch[i].merged.cmd != batch[0].merged.cmd || batch[i].merged.i != i {
				t.Fatalf("round %s: call %d was not sent in the shared script call", round, i)
			}
			got, err := claimEnqueueReply(r, batch[i])
			if (err != nil) != c.err || (err == nil && got != c.want) {
				t.Fatalf("round %s, call %d: %v %v, want %v (error: %v)", round, i, got, err, c.want, c.err)
			}
		}
		// The failed item took nothing: its claim is free.
		mustClaimEnqueue(t, r, calls[2].c, round+"2 again", Claimed)
	}
	wantIDs(t, fetch(t, r, destA, "c1", 20, time.Minute), "e0", "a0", "a4", "a2 again", "b0", "b4", "b2 again")
}

// TestRedisClaimEnqueueMany: more calls than one script call takes share a
// pipeline, in several script calls.
func TestRedisClaimEnqueueMany(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix()})
	batch := make([]*batchCall, 2*maxMerged+1)
	for i := range batch {
		batch[i] = claimEnqueueCall(t, r, claim("m", fmt.Sprint("n", i), fmt.Sprint("k", i%(maxMerged+1))),
			destA, fmt.Sprint("e", i))
	}
	r.batch.send(ctx, batch)
	accepted := 0
	for i, c := range batch {
		got, err := claimEnqueueReply(r, c)
		must(t, err)
		if want := map[bool]Outcome{true: Claimed, false: Duplicate}[i <= maxMerged]; got != want {
			t.Fatalf("call %d: %v, want %v", i, got, want)
		}
		if got == Claimed {
			accepted++
		}
	}
	if n := len(fetch(t, r, destA, "c1", len(batch), time.Minute)); n != accepted || accepted != maxMerged+1 {
		t.Fatalf("%d queued, %d accepted, want %d", n, accepted, maxMerged+1)
	}
}

// claimEnqueueCall is a ClaimEnqueue of event id to dest, for the batcher.
func claimEnqueueCall(t *testing.T, r *Redis, c Claim, dest, id string) *batchCall {
	t.Helper()
	keys, args, err := r.enqueueArgs(c, []string{dest}, event(id))
	must(t, err)
	return &batchCall{merged: &scriptCall{script: claimEnqueueScript, keys: keys, args: args}}
}

func claimEnqueueReply(r *Redis, c *batchCall) (Outcome, error) {
	n, err := r.mergedReply(ctx, c.merged)
	if err != nil {
		return 0, err
	}
	return claimOutcome(n)
}

// TestRedisMergedScripts: calls of different scripts, interleaved in one
// pipeline, go out as one EVALSHA per script, run in their order within it,
// and each gets its own reply.
func TestRedisMergedScripts(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix()})
	held := claim("x", "held", "kheld")
	mustClaim(t, r, held, Claimed)
	call := func(s *multiScript, c Claim) *batchCall {
		return &batchCall{merged: &scriptCall{script: s, keys: r.claimKeys(c), args: []any{"60000", "60000"}}}
	}
	batch := []*batchCall{
		call(claimScript, claim("x", "n1", "k1")),
		call(releaseScript, held),
		claimEnqueueCall(t, r, claim("x", "n2", "k2"), destA, "e1"),
		call(claimScript, claim("x", "n1", "k3")),
		claimEnqueueCall(t, r, claim("x", "n3", "k2"), destA, "e2"),
	}
	r.batch.send(ctx, batch)
	sameCall := [][]int{{0, 3}, {1}, {2, 4}}
	for _, group := range sameCall {
		for _, i := range group {
			if batch[i].merged.cmd != batch[group[0]].merged.cmd {
				t.Fatalf("calls %v of one script were not one EVALSHA", group)
			}
		}
	}
	if batch[0].merged.cmd == batch[1].merged.cmd || batch[1].merged.cmd == batch[2].merged.cmd {
		t.Fatal("calls of different scripts shared an EVALSHA")
	}
	for i, want := range []int64{0, 0, 0, 1, 2} { // claimed, released, queued, replayed, duplicate
		if got, err := r.mergedReply(ctx, batch[i].merged); err != nil || got != want {
			t.Fatalf("call %d: %d %v, want %d", i, got, err, want)
		}
	}
	mustClaim(t, r, held, Claimed)
	wantIDs(t, fetch(t, r, destA, "c1", 10, time.Minute), "e1")
}
