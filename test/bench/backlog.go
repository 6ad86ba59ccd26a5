package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"time"
)

// backlogOutcome is the result of the large-backlog scenario.
type backlogOutcome struct {
	events, accepted, delivered, twice int
	ingest, drain                      time.Duration
	peakRSSMB, maxSampledRSSMB         float64
	// drained events over the time from the first delivery to the last,
	// and the reference's req/s measured just before the drain.
	drained  int
	drainFor time.Duration
	refRate  float64
	err      error
}

// goalBacklog is the drain's events/s over reverse_proxy's req/s.
const goalBacklog = 1.0

func (o backlogOutcome) rate() float64 {
	if o.drainFor <= 0 {
		return 0
	}
	return float64(o.drained) / o.drainFor.Seconds()
}

func (o backlogOutcome) ratio() float64 { return o.rate() / o.refRate }

func (o backlogOutcome) pass(limitMB float64) bool {
	return o.err == nil && o.accepted > 0 && o.delivered == o.accepted && o.twice == 0 && o.peakRSSMB < limitMB && o.ratio() >= goalBacklog
}

// backlogChunk bounds how many requests are signed ahead: a chunk is sent
// well within the Standard Webhooks timestamp tolerance of 5 minutes.
const backlogChunk = 50000

// runBacklog fills Redis with events through a gateway whose destination
// takes one delivery a minute, stops it, runs the reference, then measures
// a fresh gateway's memory and rate while it drains the whole backlog with
// the default delivery settings (no rate, concurrency 8).
func (b *bench) runBacklog(ctx context.Context, events int) (out backlogOutcome) {
	out.events = events
	if err := b.rdb.FlushAll(ctx).Err(); err != nil {
		out.err = err
		return out
	}
	b.dest.reset()
	fillDir, err := os.MkdirTemp("", "whi-bench-fill-")
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(fillDir)
	filler, err := startGateway(b.caddyBin, fillConfig,
		gatewayVars{Backend: b.dest.URL, Redis: b.redisURL}, fillDir)
	if err != nil {
		out.err = err
		return out
	}
	var ids []string
	start := time.Now()
	for first := 0; first < events; first += backlogChunk {
		reqs, err := signRequests(scenario{}, "backlog", first, min(backlogChunk, events-first))
		if err != nil {
			filler.stop()
			out.err = err
			return out
		}
		res := b.gen.run(filler.url("/hooks"), reqs, 0, time.Hour, nil)
		for _, i := range res.accepted {
			ids = append(ids, reqs[i].id)
		}
		fmt.Printf("  backlog: %d of %d sent, %d accepted, %.0f/s\n",
			first+len(reqs), events, len(ids), float64(first+len(reqs))/time.Since(start).Seconds())
	}
	out.ingest = time.Since(start)
	out.accepted = len(ids)
	filler.stop()

	// The reference, for the ratio, right before the drain; it does not
	// touch Redis, and what the filler delivered is kept aside meanwhile.
	fmt.Println("  backlog: reverse_proxy (reference) ...")
	kept := b.dest.save()
	ref := b.runScenario(ctx, scenarios[0])
	out.refRate = ref.load.rate2xx()
	b.dest.restore(kept)
	base := b.dest.mark()

	drainDir, err := os.MkdirTemp("", "whi-bench-drain-")
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(drainDir)
	g, err := startGateway(b.caddyBin, defaultForwardConfig,
		gatewayVars{Backend: b.dest.URL, Redis: b.redisURL}, drainDir)
	if err != nil {
		out.err = err
		return out
	}
	defer g.stop()
	start = time.Now()
	lastReport := start
	// Events the filler leased are taken over once their lease expires,
	// so allow for that on top of the delivery rate.
	timeout := 5*time.Minute + time.Duration(float64(len(ids))/100)*time.Second
	for {
		out.maxSampledRSSMB = max(out.maxSampledRSSMB, g.rssMB())
		pending, _, err := g.backlog()
		out.delivered, out.twice = b.dest.count(ids)
		if err == nil && pending == 0 && out.delivered == len(ids) {
			break
		}
		if time.Since(start) > timeout {
			out.err = fmt.Errorf("after %s: %d of %d delivered, %d queued (admin: %v)", timeout, out.delivered, len(ids), pending, err)
			break
		}
		if time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			fmt.Printf("  backlog: %d queued, %d delivered, gateway RSS %.0f MB\n", pending, out.delivered, g.rssMB())
		}
		time.Sleep(500 * time.Millisecond)
	}
	out.drain = time.Since(start)
	// The first delivery is the start of the span, not part of it.
	out.drained, out.drainFor = b.dest.total()-base-1, b.dest.span()
	out.peakRSSMB = g.peakRSSMB()
	return out
}

// save returns a copy of what was delivered so far.
func (d *destination) save() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.delivered)
}

// restore puts back what save returned.
func (d *destination) restore(delivered map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delivered = delivered
}
