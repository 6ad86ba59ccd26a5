package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// TestRedisClaimEnqueueShared: the calls of one pipeline share one script
// call, yet each gets its own outcome; an item whose XADD or SET fails
// fails alone; a server that lost its scripts gets them again.
func TestRedisClaimEnqueueShared(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix()})
	broken := "http://broken.internal/"
	if _, err := srv.Do("SET", r.queueKeys(broken).stream, "not a stream"); err != nil {
		t.Fatal(err)
	}
	mustClaimEnqueue(t, r, claim("s", "done", "used"), []string{destA}, "e0", Claimed)
	notString := claim("s", "list", "n1")
	if _, err := srv.Do("RPUSH", r.claimKey(notString), "x"); err != nil {
		t.Fatal(err)
	}
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
			{claim("s", "k1"+round, "n1"), destA, Claimed, false},
			{claim("s", "done", "used"), destA, Replayed, false},
			{claim("s", "k3"+round, "n3"), broken, 0, true},
			{claim("s", "done", "n4"), destA, Duplicate, false},
			{claim("s", "k5"+round, ""), destA, Claimed, false},
			{notString, destA, 0, true},
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
		mustClaimEnqueue(t, r, calls[2].c, []string{destA}, round+"2 again", Claimed)
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
		batch[i] = claimEnqueueCall(t, r, claim("m", fmt.Sprint("k", i%(maxMerged+1)), fmt.Sprint("n", i)),
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
	return scriptCallOf(t, r, claimEnqueueScript, c, dest, id)
}

// scriptCallOf is a call of s, an enqueue script, for the batcher.
func scriptCallOf(t *testing.T, r *Redis, s *multiScript, c Claim, dest, id string) *batchCall {
	t.Helper()
	keys, args, err := r.enqueueArgs(c, []string{dest}, event(id))
	must(t, err)
	return &batchCall{merged: &scriptCall{script: s, keys: keys, args: args}}
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
	released, kept, queued := claim("x", "released", "n1"), claim("x", "kept", "n1"), claim("x", "queued", "n1")
	for _, c := range []Claim{released, kept, queued} {
		mustClaim(t, r, c, Claimed)
	}
	release := func(c Claim) *batchCall {
		return &batchCall{merged: &scriptCall{script: releaseScript, keys: []string{r.claimKey(c)},
			args: []any{claimValue(claimInFlight, c)}}}
	}
	batch := []*batchCall{
		scriptCallOf(t, r, claimEnqueueScript, claim("x", "k1", "n1"), destA, "e1"),
		release(released),
		scriptCallOf(t, r, enqueueScript, queued, destA, "e2"),
		scriptCallOf(t, r, claimEnqueueScript, claim("x", "k1", "n2"), destA, "e3"),
		release(claim("x", "kept", "n2")), // not the claim's nonce
	}
	r.batch.send(ctx, batch)
	sameCall := [][]int{{0, 3}, {1, 4}, {2}}
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
	for i, want := range []int64{0, 0, 0, 2, 0} { // claimed, released, queued, duplicate, kept
		if got, err := r.mergedReply(ctx, batch[i].merged); err != nil || got != want {
			t.Fatalf("call %d: %d %v, want %d", i, got, err, want)
		}
	}
	mustClaim(t, r, claim("x", "released", "n2"), Claimed)
	mustClaim(t, r, claim("x", "kept", "n2"), InProgress)
	mustClaim(t, r, claim("x", "queued", "n2"), Duplicate)
	wantIDs(t, fetch(t, r, destA, "c1", 10, time.Minute), "e1", "e2")
}

// TestRedisOldLayout: keys of the layout before one key per claim (":n:"
// nonces, ":d:" dedup keys) are not read: a gateway upgraded over them
// claims afresh, and they expire on their own.
func TestRedisOldLayout(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "old:"})
	for _, k := range []string{"old:{s}:n:n1", "old:{s}:d:k1"} {
		if _, err := srv.Do("SET", k, "done", "PX", "60000"); err != nil {
			t.Fatal(err)
		}
	}
	mustClaim(t, r, claim("s", "k1", "n1"), Claimed)
	mustClaimEnqueue(t, r, claim("s", "n1", "k1"), []string{destA}, "e1", Claimed)
}
