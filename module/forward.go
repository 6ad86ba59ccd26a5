package webhookingress

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redact"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

func init() {
	caddy.RegisterModule(new(Forward))
}

// Forward is the `webhook_forward` handler: a terminal handler that answers
// 202 once the verified webhook is durably queued for every destination; the
// app's workers deliver it in the background.
type Forward struct {
	// Destinations are the internal URLs (http or https) each event is
	// delivered to; every one gets its own queue, retries and dead letters.
	// Handlers naming the same URL share them.
	Destinations []string `json:"destinations"`
	// Timeout bounds one delivery attempt. Default: 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxAttempts is how many deliveries are tried before the event
	// becomes a dead letter. Default: 12.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// MaxAge is how long after its arrival an event is still delivered;
	// an older one becomes a dead letter. Default: 24h.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// BackoffMin and BackoffMax bound the wait before a retry: random up
	// to BackoffMin doubled for each attempt so far, at most BackoffMax
	// (a destination's Retry-After is honoured). Defaults: 1s and 10m.
	BackoffMin caddy.Duration `json:"backoff_min,omitempty"`
	BackoffMax caddy.Duration `json:"backoff_max,omitempty"`
	// Concurrency is how many deliveries to a destination may be in
	// flight at once. Default: 8.
	Concurrency int `json:"concurrency,omitempty"`
	// Rate is "<n>/s" or "<n>/m": the most deliveries a destination gets
	// in a second or a minute. Default: unlimited.
	Rate string `json:"rate,omitempty"`
	// Header is set on every delivery, over a sender's header of the same
	// name; values may be placeholders such as {env.X}.
	Header http.Header `json:"header,omitempty"`
	// SignStandard is a Standard Webhooks secret (whsec_...) to re-sign
	// deliveries with, so that the internal service checks one signature
	// whatever the provider; it may be an {env.X} placeholder.
	SignStandard string `json:"sign_standard,omitempty"`
	// Events limits destinations, by URL, to the events whose type
	// ({http.webhook.event}) matches one of their patterns, as the
	// webhook_event matcher's; a destination not listed gets every event.
	// An event no destination wants is answered 200 unrouted and not
	// queued.
	Events map[string]MatchEvent `json:"events,omitempty"`

	app    *App
	logger *zap.Logger
	// filters are Events by index in Destinations; nil when none is set.
	filters []MatchEvent
	// masked are Destinations without their credentials, as the event
	// log keeps them.
	masked []string
}

// CaddyModule returns the Caddy module information.
func (*Forward) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.webhook_forward",
		New: func() caddy.Module { return new(Forward) },
	}
}

// Provision registers every destination with the app, whose workers
// deliver from the queue.
func (f *Forward) Provision(ctx caddy.Context) error {
	f.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if len(f.Destinations) == 0 {
		return fmt.Errorf("webhook_forward: at least one destination URL is required")
	}
	limit, burst, err := parseRate(f.Rate)
	if err != nil {
		return fmt.Errorf("webhook_forward: %w", err)
	}
	repl := caddy.NewReplacer()
	secret := ""
	if f.SignStandard != "" {
		if secret, err = repl.ReplaceOrErr(f.SignStandard, true, true); err != nil {
			return fmt.Errorf("webhook_forward sign standard: %w", err)
		}
		if _, err := deliver.NewSigner(secret); err != nil {
			return fmt.Errorf("webhook_forward sign standard: %w", err)
		}
	}
	header := make(http.Header, len(f.Header))
	for k, vals := range f.Header {
		for _, v := range vals {
			header.Add(k, repl.ReplaceAll(v, ""))
		}
	}
	app, err := ctx.App("webhook_ingress")
	if err != nil {
		return err
	}
	f.app = app.(*App)
	if err := f.provisionFilters(); err != nil {
		return err
	}
	for _, raw := range f.Destinations {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook_forward: destination %q must be an http:// or https:// URL", redact.URL(raw))
		}
		d := deliver.Destination{
			URL:         raw,
			Timeout:     durationOr(f.Timeout, 15*time.Second),
			MaxAttempts: intOr(f.MaxAttempts, 12),
			MaxAge:      durationOr(f.MaxAge, 24*time.Hour),
			BackoffMin:  durationOr(f.BackoffMin, time.Second),
			BackoffMax:  durationOr(f.BackoffMax, 10*time.Minute),
			Concurrency: intOr(f.Concurrency, 8),
			Rate:        limit,
			Burst:       burst,
			Header:      header,
			SignSecret:  secret,
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("webhook_forward %s: %w", redact.URL(raw), err)
		}
		f.app.addDestination(d)
	}
	return nil
}

func (f *Forward) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h := handoffFrom(r)
	if h == nil {
		// No webhook_verify in front: queue the body as it came.
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed")
			return nil
		}
		body, err := readBody(w, r, defaultMaxBody)
		if tooLarge(err) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large")
			return nil
		}
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, err)
		}
		h = &handoff{id: bodyHash(body), body: body, received: time.Now()}
	}
	h.forwarded = true
	dests, masked := f.Destinations, f.masked
	if f.filters != nil {
		if dests, masked = f.wanted(h.eventType()); len(dests) == 0 {
			return f.unrouted(w, r, h)
		}
	}
	// The store of verify's claim finishes it; else the app's.
	st := h.store
	if st == nil {
		var err error
		if st, err = f.app.Store(); err != nil {
			return f.unavailable(w, h, err)
		}
	}
	var claim store.Claim
	if h.claim != nil {
		claim = *h.claim
	}
	ev := store.Event{
		ID:       h.id,
		Provider: h.provider,
		Header:   deliver.EndToEnd(r.Header),
		Body:     h.body,
		// The event log's key of the event is computed from it.
		ReceivedAt: h.received,
	}
	h.header = ev.Header
	// The sender may hang up; the event must still be queued whole or not at all.
	ctx := context.WithoutCancel(r.Context())
	start := time.Now()
	// The claim's part of the hand-off (see handoff).
	if h.takeover != nil {
		// The store bounds the call itself (ClaimEnqueuer).
		outcome, err := st.(store.ClaimEnqueuer).ClaimEnqueue(ctx, claim, dests, ev)
		observeStore("enqueue", start)
		if err != nil || outcome != store.Claimed {
			h.refused = true
			return h.takeover.refuse(w, r, h.id, outcome, err)
		}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := st.Enqueue(ctx, claim, dests, ev)
		observeStore("enqueue", start)
		if err != nil {
			return f.unavailable(w, h, err)
		}
	}
	h.committed = h.claim != nil
	f.app.recordAnswered(h, http.StatusAccepted, masked, true)
	f.app.notify(dests)
	writeStatus(w, http.StatusAccepted, h.id, "accepted")
	return nil
}

// provisionFilters checks Events against Destinations and lines them up,
// with the destinations masked.
func (f *Forward) provisionFilters() error {
	f.masked = make([]string, len(f.Destinations))
	for i, d := range f.Destinations {
		f.masked[i] = redact.URL(d)
	}
	if len(f.Events) == 0 {
		return nil
	}
	f.filters = make([]MatchEvent, len(f.Destinations))
	for dest, m := range f.Events {
		i := slices.Index(f.Destinations, dest)
		if i < 0 {
			return fmt.Errorf("webhook_forward: events for %q, which is not a destination", redact.URL(dest))
		}
		if err := m.check(); err != nil {
			return fmt.Errorf("webhook_forward %s: %w", redact.URL(dest), err)
		}
		f.filters[i] = m
	}
	return nil
}

// wanted is the destinations that want an event of this type, and the
// same masked.
func (f *Forward) wanted(event string) (dests, masked []string) {
	for i, d := range f.Destinations {
		if f.filters[i] == nil || f.filters[i].matches(event) {
			dests, masked = append(dests, d), append(masked, f.masked[i])
		}
	}
	return dests, masked
}

// unrouted answers an event none of the destinations wants: 200, so that
// the sender does not retry it, and nothing queued. Under a takeover the
// claim is still taken, answered as verify would and committed, so that a
// replay or a duplicate of it is refused as any other.
func (f *Forward) unrouted(w http.ResponseWriter, r *http.Request, h *handoff) error {
	if v := h.takeover; v != nil {
		outcome, err := v.claim(r.Context(), h.store, h.claim)
		if err != nil || outcome != store.Claimed {
			h.refused = true
			return v.refuse(w, r, h.id, outcome, err)
		}
		v.app.background(func() { v.finishClaim(h, true) })
	}
	h.unrouted = true
	f.app.recordAnswered(h, http.StatusOK, nil, false)
	writeStatus(w, http.StatusOK, h.id, "unrouted")
	return nil
}

func (f *Forward) unavailable(w http.ResponseWriter, h *handoff, err error) error {
	f.logger.Error("webhook not queued: store unavailable",
		zap.String("provider", h.provider), zap.String("id", h.id), zap.Error(err))
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeError(w, http.StatusServiceUnavailable, "store_unavailable")
	return nil
}

// parseRate reads "<n>/s" or "<n>/m". The burst is one second's worth (at
// most n), so a destination never sees more than its rate in any second.
func parseRate(s string) (rate.Limit, int, error) {
	if s == "" {
		return rate.Inf, 0, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("rate %q must look like 50/s or 600/m", s)
	}
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	default:
		return 0, 0, fmt.Errorf("rate %q: unit must be s or m", s)
	}
	perSecond := n / per.Seconds()
	return rate.Limit(perSecond), int(math.Max(1, math.Ceil(perSecond))), nil
}

func durationOr(d caddy.Duration, def time.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return def
}

func intOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Forward)(nil)
	_ caddyhttp.MiddlewareHandler = (*Forward)(nil)
)
