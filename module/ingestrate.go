package webhookingress

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// ingestRate counts verified webhook requests over the last second, in
// ten buckets of 100 ms: the work that delivery gives way to. A request
// counts once its signature is verified, so idle connections and slow
// senders, which hold a request open without doing any, never count.
type ingestRate struct {
	buckets [ingestBuckets]struct {
		tick atomic.Int64 // the 100 ms tick it counts, since the Unix epoch
		n    atomic.Int64
	}
}

const (
	ingestBuckets = 10
	ingestTick    = 100 * time.Millisecond
)

// add counts one verified request.
func (r *ingestRate) add() {
	tick := time.Now().UnixNano() / int64(ingestTick)
	b := &r.buckets[tick%ingestBuckets]
	if old := b.tick.Load(); old != tick && b.tick.CompareAndSwap(old, tick) {
		// A count racing with the reset may be lost: a rate needs no more.
		b.n.Store(0)
	}
	b.n.Add(1)
}

// perSecond is the count over the last second, the current tick included.
func (r *ingestRate) perSecond() int64 {
	now := time.Now().UnixNano() / int64(ingestTick)
	var sum int64
	for i := range r.buckets {
		b := &r.buckets[i]
		if now-b.tick.Load() < ingestBuckets {
			sum += b.n.Load()
		}
	}
	return sum
}

// ingestBusy reports whether verified requests come in at YieldToIngest
// per second or more: then delivery gives way (one event at a time per
// destination) so that the CPU goes to accepting the burst.
func (a *App) ingestBusy() bool {
	busy := a.YieldToIngest > 0 && a.ingest.perSecond() >= int64(a.YieldToIngest)
	a.yielding.Store(busy)
	return busy
}

var (
	ingestVerifiedRate = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "ingest_verified_per_second",
		Help: "Webhook requests verified over the last second: what yield_to_ingest compares.",
	}, func() float64 {
		if a := currentApp(); a != nil {
			return float64(a.ingest.perSecond())
		}
		return 0
	})
	deliveryYielding = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "delivery_yielding",
		Help: "1 while delivery gives way to ingest (verified requests per second at yield_to_ingest or more), else 0.",
	}, func() float64 {
		if a := currentApp(); a != nil && a.yielding.Load() {
			return 1
		}
		return 0
	})
)

// currentApp is the running config's app, nil when there is none.
func currentApp() *App {
	a, _ := runningApp()
	return a
}

func registerIngestMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{ingestVerifiedRate, deliveryYielding} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}
