package store

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
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
	{"enqueue_fetch_ack", testEnqueueFetchAck},
	{"retry_waits_until_due", testRetryWaitsUntilDue},
	{"queue_lease_expiry", testQueueLeaseExpiry},
	{"dead_letters", testDeadLetters},
	{"max_batch", testMaxBatch},
	{"stats", testStats},
	{"stale_handle", testStaleHandle},
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

func claim(scope, nonce, key string) Claim {
	return Claim{Scope: scope, Nonce: nonce, NonceTTL: time.Hour, Key: key, Window: time.Hour, Lease: time.Minute}
}

func mustClaim(t *testing.T, s Store, c Claim, want Outcome) {
	t.Helper()
	got, err := s.Claim(ctx, c)
	if err != nil {
		t.Fatalf("Claim(%+v): %v", c, err)
	}
	if got != want {
		t.Fatalf("Claim(nonce %q, key %q) = %v, want %v", c.Nonce, c.Key, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testClaimOutcomes(t *testing.T, s Store) {
	steps := []struct {
		name   string
		claim  Claim
		commit bool
		want   Outcome
	}{
		{"first", claim("a", "n1", "k1"), false, Claimed},
		{"same nonce", claim("a", "n1", "k2"), false, Replayed},
		{"same key in flight", claim("a", "n2", "k1"), false, InProgress},
		{"other scope", claim("b", "n1", "k1"), true, Claimed},
		{"key only", claim("a", "", "k3"), true, Claimed},
		{"key only again", claim("a", "", "k3"), false, Duplicate},
		{"nonce only", claim("a", "n4", ""), true, Claimed},
		{"nonce only again", claim("a", "n4", ""), false, Replayed},
		{"neither", claim("a", "", ""), false, Claimed},
		{"neither again", claim("a", "", ""), false, Claimed},
		{"committed key", claim("b", "n5", "k1"), false, Duplicate},
		{"committed nonce wins", claim("b", "n1", "k9"), false, Replayed},
	}
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

func testRelease(t *testing.T, s Store) {
	c := claim("r", "n1", "k1")
	mustClaim(t, s, c, Claimed)
	must(t, s.Release(ctx, c))
	mustClaim(t, s, c, Claimed) // the sender's retry goes through
	must(t, s.Commit(ctx, c))
	must(t, s.Release(ctx, c)) // a late Release must not reopen the window
	mustClaim(t, s, claim("r", "n2", "k1"), Duplicate)
	mustClaim(t, s, claim("r", "n1", "k2"), Replayed)
}

func testExpiry(t *testing.T, s Store) {
	c := Claim{Scope: "e", Nonce: "n", NonceTTL: 100 * time.Millisecond, Key: "k", Window: 100 * time.Millisecond, Lease: time.Minute}
	mustClaim(t, s, c, Claimed)
	must(t, s.Commit(ctx, c))
	mustClaim(t, s, c, Replayed)
	time.Sleep(250 * time.Millisecond)
	mustClaim(t, s, c, Claimed)
}

func testClaimLeaseExpiry(t *testing.T, s Store) {
	c := Claim{Scope: "l", Key: "k", Window: time.Hour, Lease: 100 * time.Millisecond}
	mustClaim(t, s, c, Claimed)
	mustClaim(t, s, c, InProgress)
	time.Sleep(250 * time.Millisecond) // the claimant died without Commit or Release
	mustClaim(t, s, c, Claimed)
}

func testConcurrentClaims(t *testing.T, s Store) {
	onlyOneClaims(t, 64, func(i int) (Outcome, error) {
		return s.Claim(ctx, claim("c", fmt.Sprint("n", i), "same"))
	}, InProgress)
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
	c := claim("q", "n1", "k1")
	mustClaim(t, s, c, Claimed)
	ev := event("e1")
	must(t, s.Enqueue(ctx, c, []string{destA, destB}, ev))
	mustClaim(t, s, claim("q", "n2", "k1"), Duplicate) // Enqueue committed the claim
	mustClaim(t, s, claim("q", "n1", "k2"), Replayed)
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
	for i, d := range got[:2] {
		d.Attempts, d.LastError = 12, fmt.Sprint("failure ", i)
		must(t, s.Dead(ctx, d))
	}
	must(t, s.Ack(ctx, got[2]))
	wantStats(t, s, destA, 0, 0, 0, 2)

	dead, err := s.DeadLetters(ctx, destA, 10)
	must(t, err)
	wantIDs(t, dead, "e1", "e2")
	if dead[0].Attempts != 12 || dead[0].LastError != "failure 0" || dead[0].Handle == "" || string(dead[0].Body) != string(event("e1").Body) {
		t.Fatalf("dead letter %+v", dead[0])
	}
	if one, _ := s.DeadLetters(ctx, destA, 1); len(one) != 1 {
		t.Fatalf("limit 1 gave %d", len(one))
	}

	for _, tc := range []struct {
		id   string
		want bool
	}{{dead[0].Handle, true}, {dead[0].Handle, false}, {"bogus", false}, {"", false}} {
		ok, err := s.DeleteDead(ctx, destA, tc.id)
		must(t, err)
		if ok != tc.want {
			t.Fatalf("DeleteDead(%q) = %v, want %v", tc.id, ok, tc.want)
		}
	}
	n, err := s.Redrive(ctx, destA, []string{"bogus", dead[0].Handle})
	if err != nil || n != 0 {
		t.Fatalf("Redrive of unknown ids = %d, %v", n, err)
	}
	n, err = s.Redrive(ctx, destA, []string{dead[1].Handle})
	if err != nil || n != 1 {
		t.Fatalf("Redrive(one) = %d, %v", n, err)
	}
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
