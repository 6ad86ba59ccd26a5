package deliver

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redact"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

const (
	// The lease of fetched entries covers their wait for a sender (at
	// most Timeout, when fetched ahead), the attempt (Timeout) and a
	// margin of Timeout, at least minLeaseMargin, for the queue round trips
	// around it: a live worker's entries are never handed to another
	// consumer, while a dead one's come back soon (45 s with the defaults).
	minLeaseMargin = 5 * time.Second
	// Polling an empty queue backs off between these; Notify cuts it short.
	idleMin = 50 * time.Millisecond
	idleMax = time.Second
	// Polling a failing queue backs off between these.
	failingMin = 100 * time.Millisecond
	failingMax = 5 * time.Second
	// yieldPause spaces deliveries while ingest is busy.
	yieldPause = 5 * time.Millisecond
	// fetchAhead is how many entries beyond those in flight a worker
	// without a rate holds: a fetch is a queue round trip, and its batch
	// must cover what the senders deliver meanwhile, or they wait for it.
	// Measured on the drain benchmark with 8 senders: 8 ahead delivered
	// 5.5 entries per fetch at about 1 ms a round trip on a loaded machine,
	// and the senders waited for the fetches.
	fetchAhead = 128
	// fetchBatch is the least a fetch asks for while 4x Concurrency
	// entries are waiting anyway: fewer, larger round trips.
	fetchBatch = fetchAhead / 2
)

// Worker delivers one destination's queue. It only reads the queue, so it
// never blocks ingest.
type Worker struct {
	q        store.Queue
	d        Destination
	target   string // d.URL without its userinfo, for logs, metrics and errors
	consumer string
	client   *http.Client
	log      *zap.Logger
	observe  func(Outcome)
	signer   *Signer
	invalid  error // from d.Validate; such a worker delivers nothing

	limiter *rate.Limiter
	// held holds one token per entry fetched and not yet attempted or
	// recorded (waiting for one of the Concurrency senders, or in flight;
	// not waiting for its acknowledgement): fetchAhead more than
	// Concurrency without a rate, so that the next batch is fetched while
	// this one is delivered and a sender never waits for a queue round
	// trip. With a rate it is Concurrency: tokens are spent as entries are
	// fetched, and an entry fetched ahead would go out after its second,
	// in a burst over the rate.
	held chan struct{}
	// ahead is how long a fetched entry may wait for a sender; one that
	// waited longer (behind a slow destination) goes back to the queue
	// unattempted, so that its lease always covers wait and attempt.
	ahead time.Duration
	// lease is what Fetch asks for: ahead, Timeout and the margin.
	lease     time.Duration
	wake      chan struct{}
	queueErrs errStreak
	rnd       func() float64

	// Poll backoff on an empty queue, fields so that tests can change them.
	idleMin, idleMax time.Duration

	// busy reports that ingest is under a burst; nil means never.
	busy func() bool
}

// YieldTo makes the worker give way to ingest: while busy reports true, it
// delivers one event at a time, a few milliseconds apart, so that the CPU a
// burst needs goes to accepting it and the backlog is delivered after.
// Call it before Run.
func (w *Worker) YieldTo(busy func() bool) { w.busy = busy }

// NewWorker returns a worker for destination d, which is also the queue's
// destination name (d.URL). client may be nil for a default one that does not
// follow redirects; a given client should not follow them either, since a
// 302 would turn the POST into a GET. log and observe may be nil. observe is
// called once per attempt, from several goroutines.
func NewWorker(q store.Queue, d Destination, consumer string, client *http.Client, log *zap.Logger,
	observe func(Outcome)) *Worker {
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	if observe == nil {
		observe = func(Outcome) {}
	}
	target := redact.URL(d.URL)
	w := &Worker{
		q:         q,
		d:         d,
		target:    target,
		consumer:  consumer,
		client:    client,
		log:       log,
		observe:   observe,
		invalid:   d.Validate(),
		wake:      make(chan struct{}, 1),
		queueErrs: errStreak{log: log, target: target},
		rnd:       rand.Float64,
		idleMin:   idleMin,
		idleMax:   idleMax,
	}
	if w.invalid != nil {
		return w
	}
	if d.SignSecret != "" {
		w.signer, w.invalid = NewSigner(d.SignSecret)
	}
	w.limiter = rate.NewLimiter(d.Rate, d.Burst)
	w.held = make(chan struct{}, d.Concurrency)
	if d.Rate == rate.Inf {
		w.held = make(chan struct{}, d.Concurrency+fetchAhead)
		w.ahead = d.Timeout
	}
	w.lease = w.ahead + d.Timeout + max(d.Timeout, minLeaseMargin)
	return w
}

// Notify wakes an idle worker, so that an event this process just queued is
// delivered at once instead of at the next poll (up to a second later). It
// never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled, then stops fetching, waits for the
// attempts in flight (each bounded by Timeout) and returns. Concurrency
// senders take the fetched entries in order: at most Concurrency requests
// are in flight to the destination.
func (w *Worker) Run(ctx context.Context) {
	if w.invalid != nil {
		w.log.Error("not delivering: invalid destination", zap.String("destination", w.target), zap.Error(w.invalid))
		return
	}
	p := &pool{w: w, ctx: ctx, ready: make(chan fetched, cap(w.held))} // never full: held bounds it
	if am, ok := w.q.(store.ManyAcker); ok {
		// A sender waits only when maxAckBatch deliveries wait for
		// their acknowledgement.
		p.acker, p.acks = am, make(chan delivered, maxAckBatch)
	}
	defer p.wait()
	idle, failing := w.idleMin, failingMin
	for ctx.Err() == nil {
		yielding := w.busy != nil && w.busy()
		if yielding && !w.giveWay(ctx) {
			return
		}
		// With plenty fetched ahead, wait for room for a batch worth
		// its round trip rather than fetching each entry as room frees.
		want := 1
		if len(p.ready) >= 4*w.d.Concurrency {
			want = fetchBatch
		}
		n, ok := w.reserve(ctx, yielding, want)
		if !ok {
			return
		}
		// The lease starts once the request is sent: an entry's age is
		// counted from before, so that the fetch's round trip is in it.
		sent := time.Now()
		batch, err := w.q.Fetch(ctx, w.d.URL, w.consumer, n, w.lease)
		if err != nil {
			w.release(n)
			if ctx.Err() != nil {
				return
			}
			w.queueErrs.record(err)
			if !sleep(ctx, failing, nil) {
				return
			}
			failing = min(2*failing, failingMax)
			continue
		}
		w.queueErrs.record(nil)
		failing = failingMin
		batch = batch[:min(len(batch), n)] // a surplus is left to its lease
		w.release(n - len(batch))
		if len(batch) == 0 {
			if !sleep(ctx, idle, w.wake) {
				return
			}
			idle = min(2*idle, w.idleMax)
			continue
		}
		idle = w.idleMin
		now := time.Now()
		w.limiter.ReserveN(now, len(batch))
		for _, dl := range batch {
			p.ready <- fetched{dl, sent}
		}
		p.startSenders()
	}
}

// reserve waits for room for want more fetched entries (want > 1 only
// without a rate) and a rate token, then takes all other room that is free
// and backed by a token right away. It returns how many entries to fetch,
// so that nothing fetched waits longer than w.ahead (and outlives its
// lease) before its attempt starts. Tokens are spent only once the fetch
// says how many entries there were.
func (w *Worker) reserve(ctx context.Context, single bool, want int) (int, bool) {
	n := 0
	for n < want {
		select {
		case w.held <- struct{}{}:
			n++
		case <-ctx.Done():
			w.release(n)
			return 0, false
		}
	}
	tokens, ok := w.waitToken(ctx)
	if !ok {
		w.release(n)
		return 0, false
	}
	for n < tokens && !single {
		select {
		case w.held <- struct{}{}:
			n++
		default:
			return n, true
		}
	}
	return n, true
}

// waitToken waits until the limiter holds at least one token and returns how
// many it holds.
func (w *Worker) waitToken(ctx context.Context) (int, bool) {
	if w.limiter.Limit() == rate.Inf {
		return math.MaxInt, true
	}
	for {
		tokens := w.limiter.Tokens()
		if tokens >= 1 {
			return int(tokens), true
		}
		// Rounded up to a millisecond so that float error cannot make this
		// loop spin.
		wait := time.Duration((1-tokens)/float64(w.limiter.Limit())*float64(time.Second)) + time.Millisecond
		if !sleep(ctx, wait, nil) {
			return 0, false
		}
	}
}

// giveWay waits until none of this worker's entries is in flight, then
// pauses briefly.
func (w *Worker) giveWay(ctx context.Context) bool {
	for len(w.held) > 0 {
		if !sleep(ctx, time.Millisecond, nil) {
			return false
		}
	}
	return sleep(ctx, yieldPause, nil)
}

func (w *Worker) release(n int) {
	for range n {
		<-w.held
	}
}

// sleep waits for d, a wake-up or the end of ctx; false means ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}
