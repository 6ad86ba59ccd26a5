package webhookingress

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/module/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/module/store"
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
		queueDepth, queueOldestAge, deliveriesTotal, deliveryDuration, deadLetters} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// maxRouteLabels bounds the route label per handler: a sender spraying
// paths must not grow the metrics without limit.
const maxRouteLabels = 64

// routeLabels hands out bounded route label values.
type routeLabels struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

func (rl *routeLabels) label(host, path string) string {
	route := strings.ToLower(host) + path
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if _, ok := rl.seen[route]; ok {
		return route
	}
	if rl.seen == nil {
		rl.seen = make(map[string]struct{})
	}
	if len(rl.seen) >= maxRouteLabels {
		return "other"
	}
	rl.seen[route] = struct{}{}
	return route
}

func observeStore(op string, start time.Time) {
	storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// observeDelivery turns delivery outcomes into metrics; the deliver package
// logs the final outcome of each event itself.
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
			if err != nil {
				if !failing && ctx.Err() == nil {
					logger.Warn("reading queue stats for metrics", zap.String("destination", d), zap.Error(err))
				}
				failing = true
				continue
			}
			failing = false
			queueDepth.WithLabelValues(d).Set(float64(s.Queued + s.InFlight + s.Retrying))
			queueOldestAge.WithLabelValues(d).Set(s.OldestAgeSeconds)
			deadLetters.WithLabelValues(d).Set(float64(s.Dead))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
