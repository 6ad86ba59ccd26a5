package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// backend opens a fresh, empty store of one kind for one test.
type backend struct {
	name string
	open func(t *testing.T) Store
}

var prefixes atomic.Int64

// uniquePrefix isolates tests that share one Redis server.
func uniquePrefix() string { return fmt.Sprintf("t%d:", prefixes.Add(1)) }

func logBackend() backend {
	return backend{"embedded", func(t *testing.T) Store { return openLog(t, filepath.Join(t.TempDir(), "data")) }}
}

func redisBackend(srv *redistest.Server) backend {
	return backend{"redis", func(t *testing.T) Store { return newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix()}) }}
}

func openLog(t testing.TB, dir string) *Log {
	t.Helper()
	return openLogWith(t, dir, LogOptions{})
}

func openLogWith(t testing.TB, dir string, opts LogOptions) *Log {
	t.Helper()
	s, err := OpenLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRedis(t testing.TB, cfg RedisConfig) *Redis {
	t.Helper()
	r, err := NewRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// conformance is what every backend must do alike.
var conformance = []struct {
	name string
	run  func(t *testing.T, s Store)
}{
	{"claim_outcomes", testClaimOutcomes},
	{"release", testRelease},
	{"expiry", testExpiry},
	{"claim_lease_expiry", testClaimLeaseExpiry},
	{"concurrent_claims", testConcurrentClaims},
	{"claim_restart", testClaimRestart},
	{"claim_enqueue_outcomes", testClaimEnqueueOutcomes},
	{"claim_enqueue_concurrent", testClaimEnqueueConcurrent},
	{"claim_enqueue_failed", testClaimEnqueueFailed},
	{"enqueue_fetch_ack", testEnqueueFetchAck},
	{"retry_waits_until_due", testRetryWaitsUntilDue},
	{"queue_lease_expiry", testQueueLeaseExpiry},
	{"dead_letters", testDeadLetters},
	{"dead_index", testDeadIndex},
	{"redrive_keeps_attempts", testRedriveKeepsAttempts},
	{"max_batch", testMaxBatch},
	{"stats", testStats},
	{"stale_handle", testStaleHandle},
	{"taken_over", testTakenOver},
}

func runConformance(t *testing.T, b backend) {
	t.Run(b.name, func(t *testing.T) {
		for _, c := range conformance {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, b.open(t))
			})
		}
	})
}

func TestConformance(t *testing.T) {
	runConformance(t, logBackend())
	runConformance(t, redisBackend(redistest.Start(t)))
}

var ctx = context.Background()

func claim(scope, key, nonce string) Claim {
	return Claim{Scope: scope, Key: key, Nonce: nonce, TTL: time.Hour, Lease: time.Minute}
}

func mustClaim(t *testing.T, s Store, c Claim, want Outcome) {
	t.Helper()
	got, err := s.Claim(ctx, c)
	if err != nil {
		t.Fatalf("Claim(%+v): %v", c, err)
	}
	if got != want {
		t.Fatalf("Claim(scope %q, key %q, nonce %q) = %v, want %v", c.Scope, c.Key, c.Nonce, got, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// claimStep is one call of a claim sequence: Claim, then Commit when
// commit is set and the claim was taken.
type claimStep struct {
	name   string
	claim  Claim
	commit bool
	want   Outcome
}

func runClaimSteps(t *testing.T, s Store, steps []claimStep) {
	t.Helper()
	for _, st := range steps {
		got, err := s.Claim(ctx, st.claim)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Fatalf("%s: got %v, want %v", st.name, got, st.want)
		}
		if st.commit {
			must(t, s.Commit(ctx, st.claim))
		}
	}
}

// testClaimOutcomes: one key per event and scope; its Nonce tells the same
// signed request (Replayed) from the sender's retry (InProgress while in
// flight, Duplicate once committed).
func testClaimOutcomes(t *testing.T, s Store) {
	runClaimSteps(t, s, []claimStep{
		{"first", claim("a", "k1", "n1"), false, Claimed},
		{"same request in flight", claim("a", "k1", "n1"), false, Replayed},
		{"retry in flight", claim("a", "k1", "n2"), false, InProgress},
		{"retry without nonce in flight", claim("a", "k1", ""), false, InProgress},
		{"other key, same nonce", claim("a", "k2", "n1"), false, Claimed},
		{"other scope", claim("b", "k1", "n1"), true, Claimed},
		{"same request committed", claim("b", "k1", "n1"), false, Replayed},
		{"retry committed", claim("b", "k1", "n2"), false, Duplicate},
		{"retry without nonce committed", claim("b", "k1", ""), false, Duplicate},
		{"no nonce", claim("a", "k3", ""), false, Claimed},
		{"no nonce again in flight", claim("a", "k3", ""), false, InProgress},
		{"no nonce, committed", claim("a", "k4", ""), true, Claimed},
		{"no nonce again committed", claim("a", "k4", ""), false, Duplicate},
		{"nonce on a key committed without", claim("a", "k4", "n1"), false, Duplicate},
		// Scope and key do not run into each other.
		{"scope x:y", claim("x:y", "z", ""), true, Claimed},
		{"scope x, key y:z", claim("x", "y:z", ""), false, Claimed},
		{"key with the infix", claim("x", "}:e:y:z", ""), false, Claimed},
		{"no key", Claim{Scope: "a", Nonce: "n9", TTL: time.Hour, Lease: time.Minute}, true, Claimed},
		{"no key again", Claim{Scope: "a", Nonce: "n9", TTL: time.Hour, Lease: time.Minute}, false, Claimed},
	})
}

// testRelease: Release frees a claim in flight with its Nonce only; a
// committed claim stays, so a late Release cannot reopen the window.
func testRelease(t *testing.T, s Store) {
	c := claim("r", "k1", "n1")
	mustClaim(t, s, c, Claimed)
	must(t, s.Release(ctx, c))
	mustClaim(t, s, claim("r", "k1", "n2"), Claimed) // the sender's retry goes through
	must(t, s.Release(ctx, c))                       // not n1's claim any more
	mustClaim(t, s, claim("r", "k1", "n3"), InProgress)
	must(t, s.Commit(ctx, claim("r", "k1", "n2")))
	must(t, s.Release(ctx, claim("r", "k1", "n2"))) // late: the commit stays
	mustClaim(t, s, claim("r", "k1", "n3"), Duplicate)
	mustClaim(t, s, claim("r", "k1", "n2"), Replayed)

	bare := claim("r", "k2", "")
	mustClaim(t, s, bare, Claimed)
	must(t, s.Release(ctx, bare))
	mustClaim(t, s, bare, Claimed)
	must(t, s.Release(ctx, claim("r", "k2", "n1"))) // a nonce that is not the claim's
	mustClaim(t, s, bare, InProgress)
	must(t, s.Release(ctx, Claim{Scope: "r"})) // no key: nothing to release
}

// testExpiry: a committed claim is kept for TTL, then reads as free.
func testExpiry(t *testing.T, s Store) {
	c := Claim{Scope: "e", Key: "k", Nonce: "n", TTL: 100 * time.Millisecond, Lease: time.Minute}
	mustClaim(t, s, c, Claimed)
	must(t, s.Commit(ctx, c))
	mustClaim(t, s, c, Replayed)
	time.Sleep(250 * time.Millisecond)
	mustClaim(t, s, c, Claimed)
}

// testClaimLeaseExpiry: a claim whose claimant died is free after its
// lease, and the late claimant's Release does not free the new claim.
func testClaimLeaseExpiry(t *testing.T, s Store) {
	c := Claim{Scope: "l", Key: "k", Nonce: "n1", TTL: time.Hour, Lease: 100 * time.Millisecond}
	mustClaim(t, s, c, Claimed)
	mustClaim(t, s, claim("l", "k", "n2"), InProgress)
	time.Sleep(250 * time.Millisecond) // the claimant died without Commit or Release
	mustClaim(t, s, claim("l", "k", "n2"), Claimed)
	must(t, s.Release(ctx, c))
	mustClaim(t, s, claim("l", "k", "n3"), InProgress)
}

func testConcurrentClaims(t *testing.T, s Store) {
	onlyOneClaims(t, 64, func(i int) (Outcome, error) {
		return s.Claim(ctx, claim("c", "same", fmt.Sprint("n", i)))
	}, InProgress)
}

// testClaimRestart: committed claims, with what tells a replay from a
// retry, outlive a restart.
func testClaimRestart(t *testing.T, s Store) {
	for _, c := range []Claim{claim("s", "k1", "n1"), claim("s", "k2", "")} {
		mustClaim(t, s, c, Claimed)
		must(t, s.Commit(ctx, c))
	}
	queued := claim("s", "k3", "n3")
	mustClaimEnqueue(t, s, queued, []string{destA}, "e3", Claimed)
	s = reopen(t, s)
	runClaimSteps(t, s, []claimStep{
		{"same request", claim("s", "k1", "n1"), false, Replayed},
		{"retry", claim("s", "k1", "n2"), false, Duplicate},
		{"retry without nonce", claim("s", "k1", ""), false, Duplicate},
		{"no nonce", claim("s", "k2", ""), false, Duplicate},
		{"nonce on a key committed without", claim("s", "k2", "n1"), false, Duplicate},
		{"queued, same request", queued, false, Replayed},
		{"queued, retry", claim("s", "k3", "n4"), false, Duplicate},
	})
}

func mustClaimEnqueue(t *testing.T, s Store, c Claim, dests []string, id string, want Outcome) {
	t.Helper()
	got, err := s.(ClaimEnqueuer).ClaimEnqueue(ctx, c, dests, event(id))
	if err != nil {
		t.Fatalf("ClaimEnqueue(%s): %v", id, err)
	}
	if got != want {
		t.Fatalf("ClaimEnqueue(%s, key %q, nonce %q) = %v, want %v", id, c.Key, c.Nonce, got, want)
	}
}

// testClaimEnqueueOutcomes: the outcomes are Claim's, only a Claimed event
// is queued, and it is queued with its claim committed for TTL.
func testClaimEnqueueOutcomes(t *testing.T, s Store) {
	both := []string{destA, destB}
	mustClaimEnqueue(t, s, claim("a", "k1", "n1"), both, "e1", Claimed)
	mustClaim(t, s, claim("a", "k1", "n2"), Duplicate) // committed, not in flight
	mustClaim(t, s, claim("a", "k1", "n1"), Replayed)
	mustClaimEnqueue(t, s, claim("a", "k1", "n1"), both, "replayed", Replayed)
	mustClaimEnqueue(t, s, claim("a", "k1", "n3"), both, "duplicate", Duplicate)
	mustClaimEnqueue(t, s, claim("a", "k1", ""), both, "duplicate_no_nonce", Duplicate)
	mustClaim(t, s, claim("a", "k2", "n4"), Claimed) // a synchronous request in flight
	mustClaimEnqueue(t, s, claim("a", "k2", "n5"), both, "in_progress", InProgress)
	mustClaimEnqueue(t, s, claim("a", "k2", "n4"), both, "replayed_in_flight", Replayed)
	mustClaimEnqueue(t, s, claim("a", "k3", ""), both, "e2", Claimed)
	mustClaimEnqueue(t, s, claim("a", "k3", ""), both, "no_nonce_again", Duplicate)
	mustClaimEnqueue(t, s, Claim{Scope: "a"}, both, "e3", Claimed) // no key: nothing to claim
	mustClaimEnqueue(t, s, Claim{Scope: "a"}, both, "e4", Claimed)
	// The refused calls took nothing: k2 is still the synchronous request's.
	must(t, s.Release(ctx, claim("a", "k2", "n4")))
	mustClaimEnqueue(t, s, claim("a", "k2", "n5"), both, "e5", Claimed)

	for _, dest := range both {
		got := fetch(t, s, dest, "c1", 10, time.Minute)
		wantIDs(t, got, "e1", "e2", "e3", "e4", "e5")
		ev := event("e1")
		if d := got[0]; !reflect.DeepEqual(d.Header, ev.Header) || string(d.Body) != string(ev.Body) ||
			d.Provider != ev.Provider || d.Attempts != 0 || d.Destination != dest {
			t.Fatalf("delivery %+v does not match event %+v", d, ev)
		}
	}

	c := Claim{Scope: "e", Key: "k", Nonce: "n", TTL: 200 * time.Millisecond, Lease: time.Minute}
	mustClaimEnqueue(t, s, c, []string{destA}, "e6", Claimed)
	mustClaim(t, s, claim("e", "k", "n2"), Duplicate)
	time.Sleep(350 * time.Millisecond)
	mustClaim(t, s, claim("e", "k", "n2"), Claimed)
}

// testClaimEnqueueConcurrent: of concurrent calls with one key one queues
// its event; the others are told in progress or duplicate.
func testClaimEnqueueConcurrent(t *testing.T, s Store) {
	const n = 32
	winner := onlyOneClaims(t, n, func(i int) (Outcome, error) {
		return s.(ClaimEnqueuer).ClaimEnqueue(ctx, claim("c", "same", fmt.Sprint("n", i)),
			[]string{destA}, event(fmt.Sprint("e", i)))
	}, InProgress, Duplicate)
	wantIDs(t, fetch(t, s, destA, "c1", n, time.Minute), fmt.Sprint("e", winner))
}

// testClaimEnqueueFailed: a claim-enqueue whose queueing fails leaves the
// claim free, and so does Release after a failed Enqueue, even where the
// commit got through: the sender's retry goes through.
func testClaimEnqueueFailed(t *testing.T, s Store) {
	dests := breakQueue(t, s)
	c := claim("f", "k1", "n1")
	if o, err := s.(ClaimEnqueuer).ClaimEnqueue(ctx, c, dests, event("e1")); err == nil {
		t.Fatalf("ClaimEnqueue to a broken queue: %v, want an error", o)
	}
	mustClaim(t, s, claim("f", "k1", "n2"), Claimed)

	held := claim("f", "k2", "n1")
	mustClaim(t, s, held, Claimed)
	if err := s.Enqueue(ctx, held, dests, event("e2")); err == nil {
		t.Fatal("Enqueue to a broken queue: no error")
	}
	must(t, s.Release(ctx, held))
	mustClaim(t, s, claim("f", "k2", "n2"), Claimed)
}

// breakQueue makes enqueueing fail and returns the destinations to
// enqueue to: in Redis the second one's stream key holds a string; the
// embedded store's active segment file is closed under it.
func breakQueue(t *testing.T, s Store) []string {
	t.Helper()
	switch s := s.(type) {
	case *Redis:
		broken := "http://broken.internal/"
		must(t, s.Client().Set(ctx, s.queueKeys(broken).stream, "not a stream", 0).Err())
		return []string{destA, broken}
	case *Log:
		s.mu.Lock()
		defer s.mu.Unlock()
		must(t, s.segs[len(s.segs)-1].f.Close())
		return []string{destA}
	}
	t.Fatalf("no way to break %T", s)
	return nil
}

// onlyOneClaims runs n attempts at once and returns the one that got
// Claimed; the others must end in one of others.
func onlyOneClaims(t *testing.T, n int, attempt func(i int) (Outcome, error), others ...Outcome) int {
	t.Helper()
	var wg sync.WaitGroup
	outcomes := make([]Outcome, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			outcomes[i], errs[i] = attempt(i)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch {
		case outcomes[i] == Claimed && winner >= 0:
			t.Fatalf("two winners: %d and %d", winner, i)
		case outcomes[i] == Claimed:
			winner = i
		case !slices.Contains(others, outcomes[i]):
			t.Fatalf("attempt %d: %v", i, outcomes[i])
		}
	}
	if winner < 0 {
		t.Fatal("no winner")
	}
	return winner
}

func event(id string) Event {
	return Event{
		ID:         id,
		Provider:   "stripe",
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}},
		Body:       []byte(`{"id":"` + id + `","bin":"\x00\xff"}`),
		ReceivedAt: time.Now().Add(-time.Second).Round(0),
	}
}

func enqueue(t *testing.T, s Store, dests []string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, s.Enqueue(ctx, Claim{}, dests, event(id)))
	}
}

func fetch(t *testing.T, s Store, dest, consumer string, max int, lease time.Duration) []Delivery {
	t.Helper()
	ds, err := s.Fetch(ctx, dest, consumer, max, lease)
	if err != nil {
		t.Fatalf("Fetch(%s): %v", dest, err)
	}
	return ds
}

func ids(ds []Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func wantIDs(t *testing.T, ds []Delivery, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := ids(ds); !reflect.DeepEqual(got, want) {
		t.Fatalf("fetched %v, want %v", got, want)
	}
}

func wantStats(t *testing.T, s Store, dest string, queued, inFlight, retrying, dead int64) QueueStats {
	t.Helper()
	st, err := s.Stats(ctx, dest)
	must(t, err)
	got := [4]int64{st.Queued, st.InFlight, st.Retrying, st.Dead}
	if want := [4]int64{queued, inFlight, retrying, dead}; got != want {
		t.Fatalf("stats (queued, in flight, retrying, dead) = %v, want %v", got, want)
	}
	if st.Destination != dest {
		t.Fatalf("stats destination %q", st.Destination)
	}
	return st
}

const (
	destA = "http://a.internal/events"
	destB = "http://b.internal/events"
)

func testEnqueueFetchAck(t *testing.T, s Store) {
	c := claim("q", "k1", "n1")
	mustClaim(t, s, c, Claimed)
	ev := event("e1")
	must(t, s.Enqueue(ctx, c, []string{destA, destB}, ev))
	mustClaim(t, s, claim("q", "k1", "n2"), Duplicate) // Enqueue committed the claim
	mustClaim(t, s, c, Replayed)
	enqueue(t, s, []string{destA, destB}, "e2", "e3")

	got := fetch(t, s, destA, "c1", 10, time.Minute)
	wantIDs(t, got, "e1", "e2", "e3")
	d := got[0]
	if d.Provider != ev.Provider || !reflect.DeepEqual(d.Header, ev.Header) || string(d.Body) != string(ev.Body) ||
		!d.ReceivedAt.Equal(ev.ReceivedAt) || d.Attempts != 0 || d.LastError != "" || d.Destination != destA || d.Handle == "" {
		t.Fatalf("delivery %+v does not match event %+v", d, ev)
	}
	wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute)) // all leased
	for _, d := range got {
		must(t, s.Ack(ctx, d))
	}
	wantStats(t, s, destA, 0, 0, 0, 0)
	wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute))
	wantIDs(t, fetch(t, s, destB, "c1", 10, time.Minute), "e1", "e2", "e3")
	wantIDs(t, fetch(t, s, "http://unknown/", "c1", 10, time.Minute))
}

func testRetryWaitsUntilDue(t *testing.T, s Store) {
	enqueue(t, s, []string{destA}, "e1", "e2", "e3")
	first := fetch(t, s, destA, "c1", 1, time.Minute)
	wantIDs(t, first, "e1")
	later := first[0]
	later.Attempts, later.LastError = 1, "503 from destination"
	must(t, s.Retry(ctx, later, time.Now().Add(time.Hour)))

	second := fetch(t, s, destA, "c1", 1, time.Minute)
	wantIDs(t, second, "e2") // the delayed e1 does not block e2
	soon := second[0]
	soon.Attempts, soon.LastError = 2, "timeout"
	must(t, s.Retry(ctx, soon, time.Now().Add(150*time.Millisecond)))
	wantStats(t, s, destA, 1, 0, 2, 0)

	wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute), "e3")
	time.Sleep(300 * time.Millisecond)
	got := fetch(t, s, destA, "c1", 10, time.Minute)
	wantIDs(t, got, "e2")
	if got[0].Attempts != 2 || got[0].LastError != "timeout" || string(got[0].Body) != string(event("e2").Body) {
		t.Fatalf("retried delivery lost its state: %+v", got[0])
	}
	wantStats(t, s, destA, 0, 2, 1, 0)
}

func testQueueLeaseExpiry(t *testing.T, s Store) {
	enqueue(t, s, []string{destA}, "e1")
	wantIDs(t, fetch(t, s, destA, "dead-consumer", 10, 100*time.Millisecond), "e1")
	wantIDs(t, fetch(t, s, destA, "c2", 10, 100*time.Millisecond))
	time.Sleep(250 * time.Millisecond)
	// Consumers of one destination use one lease: Redis compares the idle
	// time with the fetcher's lease.
	got := fetch(t, s, destA, "c2", 10, 100*time.Millisecond)
	wantIDs(t, got, "e1")
	must(t, s.Ack(ctx, got[0]))
	wantStats(t, s, destA, 0, 0, 0, 0)
}

func testDeadLetters(t *testing.T, s Store) {
	enqueue(t, s, []string{destA}, "e1", "e2", "e3")
	got := fetch(t, s, destA, "c1", 3, time.Minute)
	before := time.Now().Add(-time.Millisecond)
	for i, d := range got[:2] {
		d.Attempts, d.LastError = 12, fmt.Sprint("failure ", i)
		must(t, s.Dead(ctx, d))
	}
	after := time.Now().Add(time.Millisecond)
	must(t, s.Ack(ctx, got[2]))
	wantStats(t, s, destA, 0, 0, 0, 2)

	dead := deadPage(t, s, destA, "", 10, "e1", "e2")
	ev := event("e1")
	if d := dead[0]; d.Attempts != 12 || d.LastError != "failure 0" || d.Entry == "" || d.Provider != ev.Provider ||
		d.Destination != destA || d.BodySize != len(ev.Body) || !d.ReceivedAt.Equal(got[0].ReceivedAt) ||
		d.DiedAt.Before(before) || d.DiedAt.After(after) || d.Header != nil || d.Body != nil {
		t.Fatalf("dead letter %+v", d)
	}
	// Pages: each starts after the last entry of the one before.
	first := deadPage(t, s, destA, "", 1, "e1")
	second := deadPage(t, s, destA, first[0].Entry, 1, "e2")
	deadPage(t, s, destA, second[0].Entry, 1)
	deadPage(t, s, destB, "", 10)
	if _, err := s.DeadLetters(ctx, destA, "bogus", 1); !errors.Is(err, ErrNoEntry) {
		t.Fatalf("cursor bogus: %v, want ErrNoEntry", err)
	}

	wantFound(t, s, destA, []string{"e2"}, "e2")
	wantFound(t, s, destA, []string{dead[0].Entry}, "e1") // an entry names one too
	wantFound(t, s, destA, []string{"e1", "e2", dead[0].Entry}, "e1", "e2")
	wantFound(t, s, destA, []string{"bogus", "", "e3"})
	wantFound(t, s, destB, []string{"e1"})
	for limit := range 2 {
		if found, _ := s.FindDead(ctx, destA, []string{"e1", "e2"}, limit); len(found) != limit {
			t.Fatalf("limit %d found %d", limit, len(found))
		}
	}

	whole, err := s.ReadDead(ctx, destA, dead[0].Entry)
	must(t, err)
	if whole == nil || whole.ID != "e1" || whole.Entry != dead[0].Entry || !reflect.DeepEqual(whole.Header, ev.Header) ||
		string(whole.Body) != string(ev.Body) || whole.Attempts != 12 || whole.LastError != "failure 0" ||
		whole.BodySize != len(ev.Body) || !whole.DiedAt.Equal(dead[0].DiedAt) {
		t.Fatalf("read dead letter %+v", whole)
	}
	for _, entry := range []string{"bogus", "", "e1", "99999999999999-0", "999999"} {
		if none, err := s.ReadDead(ctx, destA, entry); none != nil || err != nil {
			t.Fatalf("ReadDead(%q) = %+v, %v", entry, none, err)
		}
	}
	if none, _ := s.ReadDead(ctx, destB, dead[0].Entry); none != nil {
		t.Fatalf("ReadDead of another destination's entry: %+v", none)
	}

	for _, tc := range []struct {
		ids  []string
		want int
	}{{[]string{"e1"}, 1}, {[]string{"e1"}, 0}, {[]string{dead[0].Entry}, 0}, {[]string{"bogus", ""}, 0}, {nil, 0}} {
		n, err := s.DeleteDead(ctx, destA, tc.ids)
		if err != nil || n != tc.want {
			t.Fatalf("DeleteDead(%q) = %d, %v, want %d", tc.ids, n, err, tc.want)
		}
	}
	wantFound(t, s, destA, []string{"e1", dead[0].Entry})
	deadPage(t, s, destA, "", 10, "e2")
	n, err := s.Redrive(ctx, destA, []string{"bogus", "e1"})
	if err != nil || n != 0 {
		t.Fatalf("Redrive of unknown ids = %d, %v", n, err)
	}
	n, err = s.Redrive(ctx, destA, []string{"e2", dead[1].Entry})
	if err != nil || n != 1 {
		t.Fatalf("Redrive(one, by id and entry) = %d, %v", n, err)
	}
	wantFound(t, s, destA, []string{"e2"})
	again := fetch(t, s, destA, "c1", 10, time.Minute)
	wantIDs(t, again, "e2")
	if again[0].Attempts != 0 {
		t.Fatalf("redriven entry keeps attempts %d", again[0].Attempts)
	}

	// Redrive of everything, beyond one batch.
	must(t, s.Dead(ctx, again[0]))
	enqueue(t, s, []string{destA}, make([]string, redriveBatch+5)...)
	for _, d := range fetch(t, s, destA, "c1", redriveBatch+5, time.Minute) {
		must(t, s.Dead(ctx, d))
	}
	n, err = s.Redrive(ctx, destA, nil)
	if err != nil || n != redriveBatch+6 {
		t.Fatalf("Redrive(all) = %d, %v", n, err)
	}
	wantStats(t, s, destA, redriveBatch+6, 0, 0, 0)
	deadPage(t, s, destA, "", 10)
	wantFound(t, s, destA, []string{"e2", ""})
}

// testRedriveKeepsAttempts: a redrive gives an event its attempts again
// and keeps count of those made before, across a retry, a second redrive
// and a restart.
func testRedriveKeepsAttempts(t *testing.T, s Store) {
	next := func(attempts, earlier int) Delivery {
		t.Helper()
		got := fetch(t, s, destA, "c1", 10, time.Minute)
		wantIDs(t, got, "r1")
		if got[0].Attempts != attempts || got[0].EarlierAttempts != earlier {
			t.Fatalf("attempts %d, earlier %d; want %d, %d", got[0].Attempts, got[0].EarlierAttempts, attempts, earlier)
		}
		return got[0]
	}
	redrive := func() {
		t.Helper()
		if n, err := s.Redrive(ctx, destA, []string{"r1"}); n != 1 || err != nil {
			t.Fatalf("Redrive = %d, %v", n, err)
		}
	}
	enqueue(t, s, []string{destA}, "r1")
	d := next(0, 0)
	d.Attempts = 4
	must(t, s.Dead(ctx, d))
	redrive()
	d = next(0, 4)
	d.Attempts = 2
	must(t, s.Retry(ctx, d, time.Now().Add(-time.Second)))
	d = next(2, 4)
	d.Attempts = 3
	must(t, s.Dead(ctx, d))
	redrive()
	s = reopen(t, s)
	must(t, s.Ack(ctx, next(0, 7)))
}

// testDeadIndex: the event-id index stays right across dead letters of one
// event in two destinations and twice in one, deletes, redrives and a
// restart (which rebuilds the embedded store's index from the log).
func testDeadIndex(t *testing.T, s Store) {
	big := event("big")
	big.Header.Set("X-Big", strings.Repeat("h", 3*maxDeadHead)) // longer than the head read first
	must(t, s.Enqueue(ctx, Claim{}, []string{destA}, big))
	enqueue(t, s, []string{destA}, "dup", "dup")
	enqueue(t, s, []string{destA, destB}, "x")
	for _, dest := range []string{destA, destB} {
		for _, d := range fetch(t, s, dest, "c1", 10, time.Minute) {
			d.Attempts, d.LastError = 1, "status 500"
			must(t, s.Dead(ctx, d))
		}
	}
	check := func(when string, wantA, wantB []string) {
		t.Helper()
		for dest, want := range map[string][]string{destA: wantA, destB: wantB} {
			var got []string
			for _, id := range []string{"big", "dup", "x"} {
				found, err := s.FindDead(ctx, dest, []string{id}, 10)
				must(t, err)
				for _, d := range found {
					if d.ID != id || d.Destination != dest || d.Attempts != 1 || d.LastError != "status 500" || d.DiedAt.IsZero() ||
						d.BodySize != len(event(id).Body) || d.Provider != "stripe" {
						t.Fatalf("%s: found %+v for %s", when, d, id)
					}
					got = append(got, d.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: dead letters of %s found by id: %v, want %v", when, dest, got, want)
			}
			deadPage(t, s, dest, "", 10, want...)
		}
	}
	check("dead", []string{"big", "dup", "dup", "x"}, []string{"x"})
	s = reopen(t, s)
	check("reopened", []string{"big", "dup", "dup", "x"}, []string{"x"})
	whole, err := s.ReadDead(ctx, destA, deadPage(t, s, destA, "", 1, "big")[0].Entry)
	must(t, err)
	if whole == nil || whole.Header.Get("X-Big") != big.Header.Get("X-Big") || string(whole.Body) != string(big.Body) {
		t.Fatalf("read after reopen: %+v", whole)
	}

	if n, err := s.DeleteDead(ctx, destA, []string{"dup"}); n != 2 || err != nil {
		t.Fatalf("DeleteDead(dup) = %d, %v, want both", n, err)
	}
	if n, err := s.Redrive(ctx, destB, []string{"x"}); n != 1 || err != nil {
		t.Fatalf("Redrive(x) at B = %d, %v", n, err)
	}
	check("deleted and redriven", []string{"big", "x"}, nil)
	s = reopen(t, s)
	check("deleted, redriven, reopened", []string{"big", "x"}, nil)

	redriven := fetch(t, s, destB, "c1", 10, time.Minute)
	wantIDs(t, redriven, "x")
	redriven[0].Attempts, redriven[0].LastError = 1, "status 500"
	must(t, s.Dead(ctx, redriven[0]))
	check("dead again", []string{"big", "x"}, []string{"x"})
	s = reopen(t, s)
	check("dead again, reopened", []string{"big", "x"}, []string{"x"})
}

// reopen is a restart: the embedded store is closed and opened again;
// Redis keeps nothing in memory that a restart would lose.
func reopen(t *testing.T, s Store) Store {
	t.Helper()
	l, ok := s.(*Log)
	if !ok {
		return s
	}
	must(t, l.Close())
	return openLog(t, l.dir)
}

// deadPage lists a page of dead letters and expects the event ids want.
func deadPage(t *testing.T, s Store, dest, after string, limit int, want ...string) []DeadLetter {
	t.Helper()
	page, err := s.DeadLetters(ctx, dest, after, limit)
	must(t, err)
	got := []string{}
	for _, d := range page {
		got = append(got, d.ID)
		if d.Body != nil || d.Header != nil {
			t.Fatalf("listed with headers or body: %+v", d)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("dead letters of %s after %q: %v, want %v", dest, after, got, want)
	}
	return page
}

// wantFound expects FindDead(ids) to find the event ids want.
func wantFound(t *testing.T, s Store, dest string, ids []string, want ...string) {
	t.Helper()
	found, err := s.FindDead(ctx, dest, ids, 10)
	must(t, err)
	got := []string{}
	for _, d := range found {
		got = append(got, d.ID)
	}
	slices.Sort(got)
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FindDead(%s, %q) found %v, want %v", dest, ids, got, want)
	}
}

func testMaxBatch(t *testing.T, s Store) {
	var names []string
	for i := range 25 {
		names = append(names, fmt.Sprint("e", i))
	}
	enqueue(t, s, []string{destA}, names...)
	for _, want := range [][]string{names[:10], names[10:20], names[20:], nil} {
		wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute), want...)
	}
	wantIDs(t, fetch(t, s, destA, "c1", 0, time.Minute))
}

func testStats(t *testing.T, s Store) {
	wantStats(t, s, destA, 0, 0, 0, 0)
	enqueue(t, s, []string{destA}, "e1", "e2", "e3", "e4")
	st := wantStats(t, s, destA, 4, 0, 0, 0)
	if st.OldestAgeSeconds < 0.5 || st.OldestAgeSeconds > 60 {
		t.Fatalf("oldest age %v, want about 1s", st.OldestAgeSeconds)
	}
	got := fetch(t, s, destA, "c1", 3, time.Minute)
	wantStats(t, s, destA, 1, 3, 0, 0)
	must(t, s.Retry(ctx, got[0], time.Now().Add(time.Hour)))
	must(t, s.Dead(ctx, got[1]))
	wantStats(t, s, destA, 1, 1, 1, 1)
}

func testStaleHandle(t *testing.T, s Store) {
	enqueue(t, s, []string{destA}, "e1")
	got := fetch(t, s, destA, "c1", 1, time.Minute)
	must(t, s.Ack(ctx, got[0]))
	must(t, s.Ack(ctx, got[0]))
	// A consumer whose lease was taken over must not bring an acknowledged
	// entry back.
	must(t, s.Retry(ctx, got[0], time.Now()))
	must(t, s.Dead(ctx, got[0]))
	wantStats(t, s, destA, 0, 0, 0, 0)
	wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute))
}

// testTakenOver: an entry whose lease ran out while its holder still had
// it (waiting behind a slow destination) is fetched again, by the same
// consumer name as a later config generation of one process uses. The
// first holder's late Retry or Dead must not move it from under the new
// holder, or it would be delivered by both; its Ack still removes it.
func testTakenOver(t *testing.T, s Store) {
	enqueue(t, s, []string{destA}, "e1", "e2")
	first := fetch(t, s, destA, "c1", 2, 100*time.Millisecond)
	wantIDs(t, first, "e1", "e2")
	time.Sleep(250 * time.Millisecond)
	again := fetch(t, s, destA, "c1", 2, 100*time.Millisecond)
	wantIDs(t, again, "e1", "e2")
	must(t, s.Retry(ctx, first[0], time.Now()))
	must(t, s.Dead(ctx, first[1]))
	wantStats(t, s, destA, 0, 2, 0, 0)
	must(t, s.Ack(ctx, again[0]))
	must(t, s.Ack(ctx, again[1]))
	wantStats(t, s, destA, 0, 0, 0, 0)
	wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute))
}
