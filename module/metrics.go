package webhookingress

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redact"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// Collectors are package-level so counters survive reloads, as
// reverse_proxy's do; each config's registry gets the same collectors.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "requests_total",
		Help: "Webhook requests by route, provider and outcome.",
	}, []string{"route", "provider", "outcome"})
	verifyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "verify_duration_seconds",
		Help:    "Time to verify a signature.",
		Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05},
	}, []string{"provider"})
	storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "store_duration_seconds",
		Help:    "Time of store operations (claim, commit, release, enqueue).",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1},
	}, []string{"op"})
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "queue_depth",
		Help: "Events waiting for delivery (queued, in flight and retrying).",
	}, []string{"destination"})
	queueOldestAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "queue_oldest_age_seconds",
		Help: "Age of the oldest event waiting for delivery.",
	}, []string{"destination"})
	deliveriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "deliveries_total",
		Help: "Delivery attempts by destination and result (delivered, retry, dead).",
	}, []string{"destination", "result"})
	deliveryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "delivery_duration_seconds",
		Help:    "Time of one delivery attempt.",
		Buckets: prometheus.DefBuckets,
	}, []string{"destination"})
	deadLetters = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "dead_letters",
		Help: "Dead letters waiting for a redrive or a delete.",
	}, []string{"destination"})
	storeDamaged = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "store_damaged_frames_total",
		Help: "Damaged stretches of the embedded store's log skipped at start (each quarantined beside the log).",
	})
	eventsUnrecorded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "events_unrecorded_total",
		Help: "Event log records and attempts not written (the store failed, or too many waited); the events themselves were answered or queued as usual.",
	})
)

// registerMetrics adds the collectors to this config's registry. Several
// handlers and every reload call it: an already registered collector is
// reused instead of panicking.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{requestsTotal, verifyDuration, storeDuration,
		queueDepth, queueOldestAge, deliveriesTotal, deliveryDuration, deadLetters, storeDamaged, eventsUnrecorded} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// routeLabel is the `route` label of a webhook_verify handler. It comes
// from the configuration only, never from the request, so a client can
// neither grow the metrics nor push a route's counts elsewhere: the handler's
// `name` when set, else the host and path matchers configured on the routes
// that lead to it (what Caddy's own metrics do: they label by server and
// handler, and by host only for hosts the config names), else the server's
// name.
type routeLabel struct {
	once  sync.Once
	value string
}

// get returns the label, working it out on the first request: only then is
// the handler in its server's routes.
func (rl *routeLabel) get(r *http.Request, name string, h caddyhttp.MiddlewareHandler) string {
	rl.once.Do(func() {
		rl.value = name
		if rl.value == "" {
			srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
			rl.value = configuredRoute(srv, h)
		}
	})
	return rl.value
}

// configuredRoute names h by the host and path matchers of the routes of srv
// that lead to it, the innermost of each kind winning ("hooks.example.com/mux"
// for a `handle /mux` in a site block), or by the server's name.
func configuredRoute(srv *caddyhttp.Server, h caddyhttp.MiddlewareHandler) string {
	if srv == nil {
		return "unknown"
	}
	var hosts, paths []string
	for _, route := range routesTo(srv, h) {
		var routeHosts, routePaths []string
		for _, set := range route.MatcherSets {
			for _, m := range set {
				switch m := m.(type) {
				case *caddyhttp.MatchHost:
					routeHosts = append(routeHosts, *m...)
				case *caddyhttp.MatchPath:
					routePaths = append(routePaths, *m...)
				}
			}
		}
		if len(routeHosts) > 0 {
			hosts = routeHosts
		}
		if len(routePaths) > 0 {
			paths = routePaths
		}
	}
	if len(hosts)+len(paths) > 0 {
		return strings.Join(hosts, ",") + strings.Join(paths, ",")
	}
	return srv.Name()
}

// routesTo is the chain of routes of srv, outermost first, through which a
// request reaches h (nil when h is not among them).
func routesTo(srv *caddyhttp.Server, h caddyhttp.MiddlewareHandler) []caddyhttp.Route {
	lists := []caddyhttp.RouteList{srv.Routes}
	if srv.Errors != nil {
		lists = append(lists, srv.Errors.Routes)
	}
	for _, route := range srv.NamedRoutes {
		lists = append(lists, caddyhttp.RouteList{*route})
	}
	for _, routes := range lists {
		if chain, ok := chainTo(routes, h, nil); ok {
			return chain
		}
	}
	return nil
}

// chainTo searches routes, and the subroutes in them, for h, carrying the
// routes on the way.
func chainTo(routes caddyhttp.RouteList, h caddyhttp.MiddlewareHandler, chain []caddyhttp.Route) ([]caddyhttp.Route, bool) {
	for _, route := range routes {
		here := append(chain[:len(chain):len(chain)], route)
		for _, handler := range route.Handlers {
			if handler == h {
				return here, true
			}
			if sub, ok := handler.(*caddyhttp.Subroute); ok {
				if found, ok := chainTo(sub.Routes, h, here); ok {
					return found, true
				}
				if sub.Errors != nil {
					if found, ok := chainTo(sub.Errors.Routes, h, here); ok {
						return found, true
					}
				}
			}
		}
	}
	return nil, false
}

// Logged parts of a request are clipped: a 19 KB Host header must not make a
// 19 KB log line per request.
const (
	maxLoggedHost = 255 // a DNS name has at most 253 bytes, plus a port
	maxLoggedPath = 256
)

// requestRoute is the request's host and path for a log line, clipped.
func requestRoute(r *http.Request) string {
	return clip(r.Host, maxLoggedHost) + clip(r.URL.Path, maxLoggedPath)
}

// clip cuts s to at most n bytes, on a UTF-8 boundary, and marks the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// labelCache holds the children of a metric vector by one label value, the
// others being fixed: WithLabelValues hashes and looks up every label on
// each call, a cost per request for a handful of series that never change.
// A child is made on first use, as WithLabelValues would, so no series
// shows before it happens. The list is copied on write and only grows.
type labelCache[T any] struct{ p atomic.Pointer[[]labeled[T]] }

type labeled[T any] struct {
	label string
	child T
}

// get returns the child for label, made by with(label) the first time.
func (c *labelCache[T]) get(label string, with func(string) T) T {
	if list := c.p.Load(); list != nil {
		for _, l := range *list {
			if l.label == label {
				return l.child
			}
		}
	}
	child := with(label)
	for {
		old := c.p.Load()
		var list []labeled[T]
		if old != nil {
			list = append(list, *old...)
		}
		list = append(list, labeled[T]{label, child})
		if c.p.CompareAndSwap(old, &list) {
			return child
		}
	}
}

// storeOps caches storeDuration's children by op.
var storeOps labelCache[prometheus.Observer]

func observeStore(op string, start time.Time) {
	storeOps.get(op, func(op string) prometheus.Observer { return storeDuration.WithLabelValues(op) }).Observe(time.Since(start).Seconds())
}

// observeDamage logs what the embedded store skipped or cut off at open
// (the place, never the bytes) and counts the damage.
func observeDamage(logger *zap.Logger) func(store.Damage) {
	return func(d store.Damage) {
		where := []zap.Field{zap.String("segment", d.Segment), zap.Int64("offset", d.Offset), zap.Int64("bytes", d.Length)}
		if d.Torn {
			logger.Warn("embedded store: cut off a frame that a crash left half written (nobody was answered for it)", where...)
			return
		}
		storeDamaged.Inc()
		if d.QuarantineErr != nil {
			logger.Error("embedded store: skipped damaged bytes; copying them aside failed",
				append(where, zap.Error(d.QuarantineErr))...)
			return
		}
		logger.Error("embedded store: skipped damaged bytes; the events in them are lost, the rest is served",
			append(where, zap.String("quarantine", d.Quarantine))...)
	}
}

// observeDelivery turns delivery outcomes into metrics (the destination
// comes without its userinfo); the deliver package logs the final outcome of
// each event itself.
func observeDelivery(o deliver.Outcome) {
	deliveriesTotal.WithLabelValues(o.Destination, o.Result).Inc()
	deliveryDuration.WithLabelValues(o.Destination).Observe(o.Duration.Seconds())
}

// queueGaugeInterval is how often queue depth, age and dead letters are read.
const queueGaugeInterval = 5 * time.Second

// updateQueueGauges refreshes the per-destination gauges until ctx ends.
func updateQueueGauges(ctx context.Context, st store.Store, dests []string, logger *zap.Logger) {
	t := time.NewTicker(queueGaugeInterval)
	defer t.Stop()
	failing := false
	for {
		for _, d := range dests {
			s, err := st.Stats(ctx, d)
			label := redact.URL(d)
			if err != nil {
				if !failing && ctx.Err() == nil {
					logger.Warn("reading queue stats for metrics", zap.String("destination", label), zap.Error(err))
				}
				failing = true
				continue
			}
			failing = false
			queueDepth.WithLabelValues(label).Set(float64(s.Queued + s.InFlight + s.Retrying))
			queueOldestAge.WithLabelValues(label).Set(s.OldestAgeSeconds)
			deadLetters.WithLabelValues(label).Set(float64(s.Dead))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
