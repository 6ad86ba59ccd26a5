package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

const (
	// queueOpTimeout bounds the Ack, Retry or Dead after an attempt.
	queueOpTimeout = 10 * time.Second
	// drainLimit is how much of a response body is read so that its
	// connection can be reused; the body itself is not used.
	drainLimit = 64 << 10
)

// fetched is an entry as the queue handed it over, and when its fetch was
// sent.
type fetched struct {
	dl store.Delivery
	at time.Time
}

// attempt makes one delivery attempt of f.dl and records its result in the
// queue. It runs to the end even when ctx is cancelled: an attempt that has
// started is bounded by Timeout and queueOpTimeout instead. An entry that
// has not started when ctx ends, or that waited longer than w.ahead, is
// given back to the queue as it was, due at once, rather than left to its
// lease. One whose lease ran out is left alone: another fetch may have
// taken it over (the queue fences its Retry then) or will. A delivered
// entry is passed to acks, when given, to be acknowledged with others;
// attempt reports whether it was.
func (w *Worker) attempt(ctx context.Context, f fetched, acks chan<- delivered) bool {
	dl := f.dl
	waited := time.Since(f.at)
	if waited > w.lease {
		return false
	}
	if ctx.Err() != nil || waited > w.ahead+time.Second {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queueOpTimeout)
		defer cancel()
		w.queueErrs.record(w.q.Retry(qctx, dl, time.Now()))
		return false
	}
	ctx = context.WithoutCancel(ctx)
	dl.Attempts++
	start := time.Now()
	status, header, err := w.send(ctx, dl)
	now := time.Now()
	out := Outcome{
		Destination: w.target,
		EventID:     dl.ID,
		Provider:    dl.Provider,
		Attempt:     dl.Attempts,
		Status:      status,
		Duration:    now.Sub(start),
		At:          start,
		ReceivedAt:  dl.ReceivedAt,
		ReplayOf:    dl.Header.Get(ReplayHeader),
	}

	if err == nil && acks != nil {
		out.Result = ResultDelivered
		acks <- delivered{dl, out}
		return true
	}
	qctx, cancel := context.WithTimeout(ctx, queueOpTimeout)
	defer cancel()
	var qerr error
	if err == nil {
		out.Result = ResultDelivered
		qerr = w.q.Ack(qctx, dl)
	} else {
		out.Err = err.Error()
		dl.LastError = out.Err
		next := now.Add(w.retryWait(dl.Attempts, status, header, now))
		// No attempt starts after MaxAge, except the first. An event of
		// unknown age is bounded by MaxAttempts alone.
		tooOld := w.d.MaxAge > 0 && !dl.ReceivedAt.IsZero() && next.Sub(dl.ReceivedAt) > w.d.MaxAge
		if dl.Attempts >= w.d.MaxAttempts || tooOld {
			out.Result = ResultDead
			qerr = w.q.Dead(qctx, dl)
		} else {
			out.Result = ResultRetry
			qerr = w.q.Retry(qctx, dl, next)
		}
	}
	// A failed Ack or Retry leaves the entry to its lease: it is attempted
	// again later, so delivery is at least once (receivers dedupe on
	// Webhook-Id).
	w.queueErrs.record(qerr)
	w.observe(out)
	w.logFinal(out)
	return false
}

// send POSTs dl once, as attempt number dl.Attempts. Any failure, a non-2xx status included, is an error;
// status is 0 when no response came.
func (w *Worker) send(ctx context.Context, dl store.Delivery) (int, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, w.d.Timeout)
	defer cancel()
	req, err := w.newRequest(ctx, dl)
	if err != nil {
		return 0, nil, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, nil, fmt.Errorf("no response within %s", w.d.Timeout)
		}
		// net/http hides only the password; the error is logged and kept
		// with a dead letter.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			uerr.URL = w.target
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, resp.Header, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.StatusCode, resp.Header, nil
}

// logFinal writes one line per event that is done with: delivered or dead.
func (w *Worker) logFinal(out Outcome) {
	var ce *zapcore.CheckedEntry
	switch out.Result {
	case ResultDelivered:
		ce = w.log.Check(zap.InfoLevel, "delivered")
	case ResultDead:
		ce = w.log.Check(zap.WarnLevel, "dead letter: giving up on delivery")
	}
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("destination", w.target),
		zap.String("id", out.EventID),
		zap.String("provider", out.Provider),
		zap.Int("attempt", out.Attempt),
		zap.Int("status", out.Status),
		zap.Duration("duration", out.Duration),
	}
	if out.Err != "" {
		fields = append(fields, zap.String("error", out.Err))
	}
	ce.Write(fields...)
}
