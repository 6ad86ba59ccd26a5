package webhookingress

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// The event log: with `retain` set, every verified event that a handler
// answered (passed on in sync, queued, or unrouted) is recorded with its
// credential-free headers, its body, the gateway's answer and each delivery
// attempt, for the admin API to list, show and replay.
//
// Recording never holds up a request or a delivery: records wait in memory
// (bounded in count and bytes) for a writer goroutine that writes whatever
// has gathered in one store call, so that under load one write carries
// many events. When the buffer is full a record is dropped and counted
// (caddy_webhook_events_unrecorded_total): the log is observability, and
// the event itself was already answered or queued.

// errEventLogOff is the admin API's answer while `retain` is not set.
var errEventLogOff = errors.New("the event log is off: set retain in the webhook_ingress global options (retain 72h)")

const (
	// defaultRetainSize caps the embedded event log when retain_size is
	// not set: the oldest records go first.
	defaultRetainSize = 1 << 30
	// Bounds on records waiting for the writer.
	maxPendingEvents = 8192
	maxPendingBytes  = 64 << 20
	// expireEvery spaces ExpireEvents calls (a short retain more often,
	// down to minExpireEvery).
	expireEvery    = time.Minute
	minExpireEvery = time.Second
	// eventWriteTimeout bounds one RecordEvents call.
	eventWriteTimeout = 10 * time.Second
	// The writer lets records gather for eventLinger after the first, or
	// until flushAt wait, so that one store call carries many: measured
	// on the sync benchmark, writing each as it came cost a store call
	// (a Redis script, a pwrite) for every one or two events.
	eventLinger = 5 * time.Millisecond
	flushAt     = 512
)

// recorder buffers records and attempts for the event log's writer.
type recorder struct {
	log      store.EventLog
	retain   time.Duration
	maxBytes int64
	logger   *zap.Logger

	mu      sync.Mutex
	pending store.EventBatch
	bytes   int
	// spare is the batch written last, emptied, for pending to take
	// next: two batches' slices serve every flush.
	spare store.EventBatch
	// wake tells the writer that something is pending, full that
	// flushAt are.
	wake, full chan struct{}
	// stopped: the writer has flushed for the last time; later records
	// are written by their caller.
	stopped bool
	// failing is set while writes fail, so that a store outage is logged
	// once, not once per batch.
	failing bool
}

// startRecorder starts the writer and the expiry of log; nil when the app
// keeps no event log.
func (a *App) startRecorder(st store.Store) *recorder {
	el, ok := st.(store.EventLog)
	if a.Retain <= 0 || !ok {
		return nil
	}
	rec := &recorder{
		log:      el,
		retain:   time.Duration(a.Retain),
		maxBytes: a.RetainSize,
		logger:   a.logger.Named("events"),
		wake:     make(chan struct{}, 1),
		full:     make(chan struct{}, 1),
	}
	if rec.maxBytes == 0 {
		rec.maxBytes = defaultRetainSize
	}
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		rec.run(a.ctx)
	}()
	return rec
}

// add queues a record (with its body) or an attempt for the writer; it never
// blocks.
func (rec *recorder) add(r *store.EventRecord, att *store.EventAttempt) {
	size := 256
	if r != nil {
		size += len(r.Body)
		for name, values := range r.Header {
			size += len(name)
			for _, v := range values {
				size += len(v)
			}
		}
	}
	rec.mu.Lock()
	if rec.stopped {
		rec.mu.Unlock()
		rec.write(store.EventBatch{Records: optional(r), Attempts: optional(att), Retain: rec.retain})
		return
	}
	if len(rec.pending.Records)+len(rec.pending.Attempts) >= maxPendingEvents || rec.bytes+size > maxPendingBytes {
		rec.mu.Unlock()
		eventsUnrecorded.Inc()
		return
	}
	if r != nil {
		rec.pending.Records = append(rec.pending.Records, *r)
	}
	if att != nil {
		rec.pending.Attempts = append(rec.pending.Attempts, *att)
	}
	rec.bytes += size
	n := len(rec.pending.Records) + len(rec.pending.Attempts)
	rec.mu.Unlock()
	signal(rec.wake)
	if n == flushAt {
		signal(rec.full)
	}
}

// signal sends on a channel of one without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func optional[T any](v *T) []T {
	if v == nil {
		return nil
	}
	return []T{*v}
}

// run writes what gathers until ctx ends, then writes the rest once more;
// it expires old records every expireEvery or, for a short retain, twice
// per retain.
func (rec *recorder) run(ctx context.Context) {
	rec.expire()
	expiry := time.NewTicker(min(expireEvery, max(rec.retain/2, minExpireEvery)))
	defer expiry.Stop()
	for {
		select {
		case <-rec.wake:
			linger := time.NewTimer(eventLinger)
			select {
			case <-linger.C:
			case <-rec.full:
			case <-ctx.Done():
			}
			linger.Stop()
			rec.flush()
		case <-expiry.C:
			rec.expire()
		case <-ctx.Done():
			rec.mu.Lock()
			rec.stopped = true
			rec.mu.Unlock()
			rec.flush()
			return
		}
	}
}

// flush writes everything pending in one store call.
func (rec *recorder) flush() {
	rec.mu.Lock()
	b := rec.pending
	rec.pending, rec.spare, rec.bytes = rec.spare, store.EventBatch{}, 0
	rec.mu.Unlock()
	if len(b.Records)+len(b.Attempts) == 0 {
		return
	}
	b.Retain = rec.retain
	rec.write(b)
	clear(b.Records) // the bodies go with their requests
	clear(b.Attempts)
	rec.mu.Lock()
	rec.spare = store.EventBatch{Records: b.Records[:0], Attempts: b.Attempts[:0]}
	rec.mu.Unlock()
}

func (rec *recorder) write(b store.EventBatch) {
	ctx, cancel := context.WithTimeout(context.Background(), eventWriteTimeout)
	defer cancel()
	start := time.Now()
	err := rec.log.RecordEvents(ctx, b)
	observeStore("record_events", start)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err != nil {
		eventsUnrecorded.Add(float64(len(b.Records) + len(b.Attempts)))
		if !rec.failing {
			rec.logger.Error("event log: records not written; events are still delivered", zap.Error(err))
		}
	} else if rec.failing {
		rec.logger.Info("event log: writing again")
	}
	rec.failing = err != nil
}

func (rec *recorder) expire() {
	ctx, cancel := context.WithTimeout(context.Background(), eventWriteTimeout)
	defer cancel()
	if err := rec.log.ExpireEvents(ctx, time.Now().Add(-rec.retain), rec.maxBytes); err != nil {
		rec.logger.Error("event log: expiring old records", zap.Error(err))
	}
}

// recordAnswered records a verified event that a handler answered: passed
// on in sync (status is the next handler's answer), queued for dests
// (credentials masked), or unrouted. h.received and h.scope name it.
func (a *App) recordAnswered(h *handoff, status int, dests []string, queued bool) {
	rec := a.events.Load()
	if rec == nil {
		return
	}
	r := store.EventRecord{
		Key: store.EventKey(h.received, h.provider, h.id), ID: h.id, Provider: h.provider, Scope: h.scope,
		Type: h.eventType(), Async: queued, ReceivedAt: h.received, Answer: status, BodySize: len(h.body),
		Header: h.header, Body: h.body,
	}
	switch {
	case h.unrouted:
		r.State = store.StateUnrouted
	case queued:
		r.State, r.Destinations = store.StateQueued, dests
	case status >= 200 && status < 300:
		r.State = store.StatePassed
	default:
		r.State = store.StateFailed
	}
	rec.add(&r, nil)
}

// recordAttempt records one delivery attempt; it is the workers' observer
// beside the metrics.
func (a *App) recordAttempt(o deliver.Outcome) {
	rec := a.events.Load()
	if rec == nil {
		return
	}
	key := o.ReplayOf
	if key == "" {
		key = store.EventKey(o.ReceivedAt, o.Provider, o.EventID)
	}
	result := store.StateDelivered
	switch o.Result {
	case deliver.ResultRetry:
		result = store.StateRetrying
	case deliver.ResultDead:
		result = store.StateDead
	}
	rec.add(nil, &store.EventAttempt{
		Key: key, At: o.At, Destination: o.Destination, Attempt: o.Attempt, Status: o.Status,
		Duration: o.Duration, Result: result, Error: o.Err, Replay: o.ReplayOf != "",
	})
}

// eventLog is the event log of the running config, for the admin API.
func (a *App) eventLog() (store.EventLog, error) {
	rec := a.events.Load()
	if rec == nil {
		return nil, errEventLogOff
	}
	return rec.log, nil
}
