package webhookingress

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// The hand-off from webhook_verify to the handler after it.
//
// webhook_verify reads the body once, verifies it and, where replay or
// dedup applies, builds the request's claim. It passes the request on
// (passOn) with the body restored and a *handoff in the request context,
// which the next handler finds with handoffFrom. The claim then takes one
// of two paths, decided by verify before it passes the request on:
//
//   - verify takes the claim (store.Claim) and finishes it when the next
//     handler returns: it commits it, after the answer, when the handler
//     answered 2xx without an error; it releases it, before the answer so
//     that the sender's retry goes through, on any other status, on an
//     error and on a panic. A webhook_forward in that chain enqueues with
//     the claim, which commits it in the same store call, and sets
//     committed: verify then leaves it.
//   - verify leaves the claim to webhook_forward (takeover is set) when
//     webhook_forward is the next handler of its route (forwardNext), the
//     store takes a claim and enqueues in one call (store.ClaimEnqueuer)
//     and on_store_error is reject: one round trip instead of two.
//     webhook_forward takes, enqueues and commits in that one call and
//     sets committed; a claim refused or failed took nothing, and forward
//     answers it as verify would (takeover.refuse) and sets refused.
//     Nothing is left for verify to finish.
//
// An event no route or destination wants is answered 2xx unrouted, not
// queued: by verify when no handler answered it, by webhook_forward when
// none of its destinations wants its type. Its claim is committed like an
// answered event's (taken and committed by forward under a takeover), so
// dedup and replay hold for it too.
//
// Only webhook_forward writes to a hand-off, in the request's goroutine
// and before verify's passOn returns; verify then reads committed, refused
// and unrouted to count the request's outcome.
type handoff struct {
	id       string // the Webhook-Id
	provider string
	body     []byte
	// received is when verify started on the request, scope its claim
	// scope: with id and provider they name its event log record.
	received time.Time
	scope    string
	// header is what the event log keeps of the request's headers: the
	// queued event's, or the passed-on request's end-to-end ones; set only
	// while the app keeps an event log, when the event is recorded.
	header http.Header
	claim  *store.Claim // nil when nothing is claimed
	// store is the store of the claim; it finishes it even if the app
	// stops meanwhile (a reload), since the next config shares it.
	store store.Store
	// takeover is the webhook_verify that left its claim to the
	// webhook_forward after it; nil when verify took it (or none applies).
	takeover *Verify
	// committed: webhook_forward's enqueue committed the claim. refused:
	// webhook_forward answered a refused or failed takeover. unrouted: the
	// event was answered without reaching a destination. forwarded:
	// webhook_forward answered it, and recorded it in the event log if
	// it was queued or unrouted.
	committed, refused, unrouted, forwarded bool
	// The event type and body fields, read when first asked for.
	lazyFields
	// answer is what the next handler answered, for verify to finish the
	// claim by and to tell an unrouted event.
	answer answerStatus
}

type handoffKey struct{}

func handoffFrom(r *http.Request) *handoff {
	h, _ := r.Context().Value(handoffKey{}).(*handoff)
	return h
}

// handsOff reports whether the claim is left to the webhook_forward that
// follows. With on_store_error allow verify keeps the claim, so that a
// store error still passes the request on.
func (v *Verify) handsOff(r *http.Request, st store.Store) bool {
	if v.OnStoreError == "allow" || !v.forward.get(r, v) {
		return false
	}
	_, ok := st.(store.ClaimEnqueuer)
	return ok
}

// passOn hands the request to the next handler with h, and finishes a claim
// verify took as the hand-off's contract says.
func (v *Verify) passOn(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, h *handoff) (err error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		repl.Set("http.webhook.id", h.id)
		repl.Set("http.webhook.provider", h.provider)
		repl.Map(h.placeholder)
	}
	stripCredentials(r, v.verifier)
	r.Header.Del(deliver.ReplayHeader) // only the event log's replays are replays
	r.Header.Set("Webhook-Id", h.id)
	r.Header.Set("Webhook-Provider", h.provider)
	r.Body = io.NopCloser(bytes.NewReader(h.body))
	r.ContentLength = int64(len(h.body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(h.body)), nil }
	r = r.WithContext(context.WithValue(r.Context(), handoffKey{}, h))

	defer func() {
		switch {
		case h.refused: // counted by the answer
		case h.unrouted:
			v.count(r, "unrouted")
		case h.committed:
			v.count(r, "accepted")
		default:
			v.count(r, "passed")
		}
	}()
	if h.takeover != nil {
		return next.ServeHTTP(w, r) // webhook_forward is next, and answers
	}
	rec := &h.answer
	rec.ResponseWriterWrapper.ResponseWriter = w
	defer func() {
		if v.app != nil && v.app.events.Load() != nil && !h.forwarded && !h.refused {
			h.header = deliver.EndToEnd(r.Header) // Webhook-Id and Webhook-Provider left out
			v.app.recordAnswered(h, cmp.Or(rec.status, http.StatusOK), nil, false)
		}
	}()
	if h.claim == nil {
		err = next.ServeHTTP(rec, r)
		answerUnrouted(rec, h, err)
		return err
	}
	succeeded := false
	defer func() {
		if h.committed {
			return
		}
		if succeeded {
			// The answer need not wait for the commit: until it lands, a
			// duplicate sees the claim and is told the event is in progress.
			v.app.background(func() { v.finishClaim(h, true) })
			return
		}
		v.finishClaim(h, false)
	}()
	err = next.ServeHTTP(rec, r)
	answerUnrouted(rec, h, err)
	status := rec.status
	if status == 0 && err == nil {
		status = http.StatusOK
	}
	succeeded = err == nil && status >= 200 && status < 300
	return err
}

// answerUnrouted answers an event that no handler answered (no route
// matched it): 200, so that the sender does not retry it for days.
func answerUnrouted(rec *answerStatus, h *handoff, err error) {
	if err == nil && rec.status == 0 {
		h.unrouted = true
		writeStatus(rec, http.StatusOK, h.id, "unrouted")
	}
}

// answerStatus passes an answer through and keeps its final status (0
// until one is written). It lives in the hand-off, so that it costs the
// request no allocation.
type answerStatus struct {
	caddyhttp.ResponseWriterWrapper
	status int
}

func (a *answerStatus) WriteHeader(status int) {
	if a.status == 0 && status >= 200 { // 1xx are not the answer
		a.status = status
	}
	a.ResponseWriterWrapper.WriteHeader(status)
}

func (a *answerStatus) Write(p []byte) (int, error) {
	a.wrote()
	return a.ResponseWriterWrapper.Write(p)
}

func (a *answerStatus) ReadFrom(r io.Reader) (int64, error) {
	a.wrote()
	return a.ResponseWriterWrapper.ReadFrom(r)
}

// wrote notes the implicit 200 of a body written before any status.
func (a *answerStatus) wrote() {
	if a.status == 0 {
		a.status = http.StatusOK
	}
}

// finishClaim commits or releases a claim. The request context ends with the
// response; the store call must not.
func (v *Verify) finishClaim(h *handoff, commit bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	start := time.Now()
	if commit {
		err = h.store.Commit(ctx, *h.claim)
		observeStore("commit", start)
	} else {
		err = h.store.Release(ctx, *h.claim)
		observeStore("release", start)
	}
	if err != nil {
		v.logger.Error("store: finishing claim", zap.Bool("commit", commit),
			zap.String("provider", h.provider), zap.String("id", h.id), zap.Error(err))
	}
}

// forwardNext tells whether a webhook_verify is followed, in its route, by
// a webhook_forward: Caddy runs a route's handlers one after the other, so
// that one is next for every request. A handler at the end of its route,
// where matchers pick what comes next, keeps its claim. It is worked out on
// the first request, when the handler is in its server's routes.
type forwardNext struct {
	once  sync.Once
	value bool
}

func (fn *forwardNext) get(r *http.Request, v *Verify) bool {
	fn.once.Do(func() {
		srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
		if srv == nil {
			return
		}
		chain := routesTo(srv, v)
		if len(chain) == 0 {
			return
		}
		handlers := chain[len(chain)-1].Handlers
		if i := slices.Index(handlers, caddyhttp.MiddlewareHandler(v)); i >= 0 && i+1 < len(handlers) {
			_, fn.value = handlers[i+1].(*Forward)
		}
	})
	return fn.value
}
