package deliver

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// An entry fetched ahead that waited longer than its share of the lease,
// or that has not started when the worker stops, goes back to the queue as
// it was (same attempt count, due at once) without a request.
func TestEntryGivenBackUnattempted(t *testing.T) {
	var requests atomic.Int32
	q := newFakeQueue()
	q.add(memURL, testEvent("evt_late"))
	batch, err := q.Fetch(context.Background(), memURL, "c", 1, time.Minute)
	if err != nil || len(batch) != 1 {
		t.Fatal(batch, err)
	}
	h := newHarness(t, q, testDestination(memURL))
	h.w.client = memClient(func(http.ResponseWriter, *http.Request) { requests.Add(1) })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for what, call := range map[string]func() bool{
		"waited too long": func() bool {
			return h.w.attempt(context.Background(), fetched{batch[0], time.Now().Add(-h.w.ahead - 2*time.Second)}, nil)
		},
		"stopping": func() bool { return h.w.attempt(cancelled, fetched{batch[0], time.Now()}, nil) },
	} {
		_, _, given, _, _ := q.snapshot()
		before := len(given)
		if call() {
			t.Errorf("%s: handed to the acker", what)
		}
		_, _, retries, _, pending := q.snapshot()
		if len(retries) != before+1 || pending != 1 {
			t.Fatalf("%s: %d retries, %d pending; want the entry given back", what, len(retries)-before, pending)
		}
		if r := retries[len(retries)-1]; r.d.Attempts != 0 || time.Until(r.at) > 0 {
			t.Errorf("%s: given back with %d attempts, due in %s; want as it was, due at once", what, r.d.Attempts, time.Until(r.at))
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests for entries given back", n)
	}
}

// An entry that waited out its whole lease may already be another fetch's
// (the same consumer name's, after a reload): it is neither attempted nor
// given back, so that a store that cannot fence a late Retry does not
// move it from under its new holder. The queue's lease brings it back.
func TestEntryPastItsLeaseLeftAlone(t *testing.T) {
	var requests atomic.Int32
	q := newFakeQueue()
	q.add(memURL, testEvent("evt_lapsed"))
	h := newHarness(t, q, testDestination(memURL))
	batch, err := q.Fetch(context.Background(), memURL, "c", 1, h.w.lease)
	if err != nil || len(batch) != 1 {
		t.Fatal(batch, err)
	}
	h.w.client = memClient(func(http.ResponseWriter, *http.Request) { requests.Add(1) })
	if h.w.attempt(context.Background(), fetched{batch[0], time.Now().Add(-h.w.lease - time.Millisecond)}, nil) {
		t.Error("handed to the acker")
	}
	acked, dead, retries, _, pending := q.snapshot()
	if n := requests.Load(); n != 0 || len(acked)+len(dead)+len(retries) != 0 || pending != 1 {
		t.Errorf("%d requests, %d acks, %d dead, %d retries; want the entry left to its lease", n, len(acked), len(dead), len(retries))
	}
}
