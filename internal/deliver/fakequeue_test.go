package deliver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// fakeQueue is an in-memory store.Queue with the lease and retry semantics
// the workers rely on. Methods the worker never calls are left to the
// embedded nil interface (calling one panics).
type fakeQueue struct {
	store.Queue

	mu       sync.Mutex
	seq      int
	entries  map[string]*fakeEntry
	fetchErr error
	fetches  int
	acked    []store.Delivery
	dead     []store.Delivery
	retries  []fakeRetry
	fetchLog chan struct{} // receives after each Fetch, when set
}

type fakeEntry struct {
	d           store.Delivery
	readyAt     time.Time
	leasedUntil time.Time
}

type fakeRetry struct {
	d  store.Delivery
	at time.Time
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{entries: make(map[string]*fakeEntry)}
}

// add queues ev for destination and returns its handle.
func (q *fakeQueue) add(destination string, ev store.Event) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	h := fmt.Sprintf("%08d", q.seq)
	q.entries[h] = &fakeEntry{d: store.Delivery{Event: ev, Destination: destination, Handle: h}}
	return h
}

func (q *fakeQueue) Fetch(ctx context.Context, destination, _ string, max int, lease time.Duration) ([]store.Delivery, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fetches++
	if q.fetchLog != nil {
		select {
		case q.fetchLog <- struct{}{}:
		default:
		}
	}
	if q.fetchErr != nil {
		return nil, q.fetchErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	var out []store.Delivery
	for h := 1; h <= q.seq && len(out) < max; h++ {
		e, ok := q.entries[fmt.Sprintf("%08d", h)]
		if !ok || e.d.Destination != destination || e.readyAt.After(now) || e.leasedUntil.After(now) {
			continue
		}
		e.leasedUntil = now.Add(lease)
		out = append(out, e.d)
	}
	return out, nil
}

func (q *fakeQueue) Ack(_ context.Context, d store.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.entries, d.Handle)
	q.acked = append(q.acked, d)
	return nil
}

func (q *fakeQueue) Retry(_ context.Context, d store.Delivery, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.entries[d.Handle]; ok {
		e.d, e.readyAt, e.leasedUntil = d, at, time.Time{}
	}
	q.retries = append(q.retries, fakeRetry{d, at})
	return nil
}

func (q *fakeQueue) Dead(_ context.Context, d store.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.entries, d.Handle)
	q.dead = append(q.dead, d)
	return nil
}

func (q *fakeQueue) setFetchErr(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fetchErr = err
}

// snapshot returns copies of what the worker did so far.
func (q *fakeQueue) snapshot() (acked, dead []store.Delivery, retries []fakeRetry, fetches, pending int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]store.Delivery(nil), q.acked...), append([]store.Delivery(nil), q.dead...),
		append([]fakeRetry(nil), q.retries...), q.fetches, len(q.entries)
}
