package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The drain and steady scenarios measure delivery itself: how fast a
// backlog leaves the queue with webhook_forward's default settings (no
// rate, concurrency 8) to a destination that answers at once, compared
// with the reference's req/s in the same round.

// fillConfig queues events while letting one a minute out: the destination
// is as good as closed, and a filler stopped with SIGTERM leaves no entry
// leased (its one delivery in flight finishes).
const fillConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret {{.Secret}}
		}
		webhook_forward {{.Backend}}/events {
			rate 1/m
		}
	}
}`

// defaultForwardConfig is webhook_forward with every delivery setting left
// at its default.
const defaultForwardConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret {{.Secret}}
		}
		webhook_forward {{.Backend}}/events
	}
}`

// Goals, from the issue that set them ("Delivery at wire speed").
const (
	// goalDrain is a drain's events/s over reverse_proxy's req/s.
	goalDrain = 1.2
	// maxSteadyDepth is the steady scenario's deepest queue, in seconds of
	// its ingest rate.
	maxSteadyDepth = 1.0
)

// flowOutcome is what a drain or steady scenario measured.
type flowOutcome struct {
	// The drain: events queued by the filler that the fresh gateway
	// delivered, over the time from its first delivery to its last.
	drained  int
	drainFor time.Duration
	// Redis, over the drain, per delivered event: commands run (a
	// script's counted, not the EVALSHA), script calls, and the fetches
	// (XREADGROUP) and acknowledgements (XACK) among them.
	commandsPerEvent, scriptsPerEvent, fetchesPerEvent, acksPerEvent float64

	// The steady scenario: the async capacity its probe measured, the
	// ingest rate it then held (half of that), and the deepest queue
	// sampled meanwhile.
	capacity, steadyRate float64
	maxDepth             int64
	steadyFor            time.Duration
}

func (f flowOutcome) drainRate() float64 {
	if f.drainFor <= 0 {
		return 0
	}
	return float64(f.drained) / f.drainFor.Seconds()
}

// runDrain queues cfg.drainEvents events through a filler gateway whose
// destination lets one a minute out, stops it, then starts a fresh gateway
// on the same store and times how fast it delivers them.
func (b *bench) runDrain(ctx context.Context, sc scenario) (out outcome) {
	out = outcome{sc: sc, roundTrips: math.NaN(), commandsSent: math.NaN(), deliveryCommands: math.NaN(), flow: &flowOutcome{}}
	dir, vars, err := b.freshStore(ctx, sc)
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(dir)
	reqs, err := signRequests(sc, sc.key, 0, b.cfg.drainEvents)
	if err != nil {
		out.err = err
		return out
	}
	filler, err := startGateway(b.caddyBin, fillConfig, vars, dir)
	if err != nil {
		out.err = err
		return out
	}
	res := b.gen.run(filler.url("/hooks"), reqs, 0, time.Hour, nil)
	filler.stop()
	ids := acceptedIDs(reqs, res)
	out.accepted = len(ids)
	reqs = nil
	base := b.dest.mark()

	g, err := startGateway(b.caddyBin, defaultForwardConfig, vars, dir)
	if err != nil {
		out.err = err
		return out
	}
	defer g.stop()
	var stats0 commandStats
	if sc.redis {
		stats0, _ = readCommandStats(ctx, b.rdb)
	}
	cpu0 := g.cpuTime()
	if b.cfg.profileDir != "" {
		go b.profile(g, sc)
	}
	out.err = b.timeDrain(g, ids, base, &out)
	f := out.flow
	if f.drained > 0 {
		out.cpuPerReq = (g.cpuTime() - cpu0) / time.Duration(f.drained)
		// The load columns show the drain: events/s, and the ratio to
		// reverse_proxy's req/s that runRounds takes from them.
		out.load = loadResult{sent: f.drained, elapsed: f.drainFor}
	}
	if sc.redis && f.drained > 0 {
		if stats1, err := readCommandStats(ctx, b.rdb); err == nil {
			scripts, all := stats1.delta(stats0)
			// Redis counts a script's commands under their own names as
			// well as the EVALSHA that runs them.
			f.commandsPerEvent = float64(all-scripts) / float64(f.drained)
			f.scriptsPerEvent = float64(scripts) / float64(f.drained)
			f.fetchesPerEvent = float64(stats1["xreadgroup"]-stats0["xreadgroup"]) / float64(f.drained)
			f.acksPerEvent = float64(stats1["xack"]-stats0["xack"]) / float64(f.drained)
		}
	}
	out.rssMB = g.peakRSSMB()
	return out
}

// freshStore empties Redis (for a Redis scenario) and makes a data
// directory, which holds the embedded store otherwise.
func (b *bench) freshStore(ctx context.Context, sc scenario) (string, gatewayVars, error) {
	b.dest.reset()
	vars := gatewayVars{Backend: b.dest.URL}
	if sc.redis {
		vars.Redis = b.redisURL
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			return "", vars, err
		}
	}
	dir, err := os.MkdirTemp("", "whi-bench-")
	return dir, vars, err
}

func acceptedIDs(reqs []signedRequest, res loadResult) []string {
	ids := make([]string, len(res.accepted))
	for i, n := range res.accepted {
		ids[i] = reqs[n].id
	}
	return ids
}

// timeDrain waits until every id reached the destination and the queues
// are empty. The drain is timed by the destination, from the first
// delivery after base (taken before the gateway started) to the last, so
// the gateway's start-up is left out.
func (b *bench) timeDrain(g *gateway, ids []string, base int, out *outcome) error {
	f := out.flow
	deadline := time.Now().Add(time.Minute + time.Duration(len(ids)/1000)*time.Second)
	for {
		delivered, twice := b.dest.count(ids)
		out.delivered, out.twice = delivered, twice
		if delivered == len(ids) {
			pending, dead, err := g.backlog()
			if err == nil && pending == 0 {
				// The first delivery is the start of the span, not part
				// of it.
				f.drained, f.drainFor, out.dead = b.dest.total()-base-1, b.dest.span(), dead
				return nil
			}
		}
		if time.Now().After(deadline) {
			pending, _, err := g.backlog()
			return fmt.Errorf("%d of %d accepted events delivered, %d still queued (admin: %v)", delivered, len(ids), pending, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runSteady measures the async capacity (the 202s per second of a fresh
// gateway at full load), lets that backlog drain, then ingests at half the
// capacity for cfg.steady while deliveries run, sampling the queue's depth.
func (b *bench) runSteady(ctx context.Context, sc scenario) (out outcome) {
	out = outcome{sc: sc, roundTrips: math.NaN(), commandsSent: math.NaN(), deliveryCommands: math.NaN(), flow: &flowOutcome{}}
	f := out.flow
	dir, vars, err := b.freshStore(ctx, sc)
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(dir)
	g, err := startGateway(b.caddyBin, defaultForwardConfig, vars, dir)
	if err != nil {
		out.err = err
		return out
	}
	defer g.stop()
	probeDur := min(b.cfg.duration, 3*time.Second)
	probe, err := signRequests(sc, sc.key+"-probe", 0, int(probeDur.Seconds()+b.cfg.warmup.Seconds()+1)*20000)
	if err != nil {
		out.err = err
		return out
	}
	res := b.gen.run(g.url("/hooks"), probe, b.cfg.warmup, probeDur, nil)
	f.capacity = res.rate2xx()
	ids := acceptedIDs(probe, res)
	probe = nil
	if err := b.waitDelivered(g, ids); err != nil {
		out.err = fmt.Errorf("probe: %w", err)
		return out
	}

	f.steadyRate = f.capacity / 2
	n := int(f.steadyRate * b.cfg.steady.Seconds())
	reqs, err := signRequests(sc, sc.key, 0, n)
	if err != nil {
		out.err = err
		return out
	}
	stop := make(chan struct{})
	sampled := make(chan int64)
	go func() {
		var deepest int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				sampled <- deepest
				return
			case <-t.C:
				if pending, _, err := g.backlog(); err == nil {
					deepest = max(deepest, pending)
				}
			}
		}
	}()
	cpu0 := g.cpuTime()
	if b.cfg.profileDir != "" {
		go b.profile(g, sc)
	}
	out.load = b.gen.paced(g.url("/hooks"), reqs, f.steadyRate)
	close(stop)
	f.maxDepth = <-sampled
	f.steadyFor = out.load.elapsed
	if out.load.sent > 0 {
		out.cpuPerReq = (g.cpuTime() - cpu0) / time.Duration(out.load.sent)
	}
	ids = append(ids, acceptedIDs(reqs, out.load)...)
	out.accepted = len(ids)
	if err := b.waitDelivered(g, ids); err != nil {
		out.err = err
	}
	out.delivered, out.twice = b.dest.count(ids)
	out.rssMB = g.peakRSSMB()
	return out
}

// waitDelivered waits until every id reached the destination and the
// queues are empty.
func (b *bench) waitDelivered(g *gateway, ids []string) error {
	deadline := time.Now().Add(time.Minute + time.Duration(len(ids)/100)*time.Second)
	for {
		delivered, _ := b.dest.count(ids)
		if delivered == len(ids) {
			if pending, _, err := g.backlog(); err == nil && pending == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d accepted events delivered", delivered, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// paced sends reqs at perSecond, each at its own due time, from the
// generator's workers; a request that is late goes out at once.
func (g *generator) paced(url string, reqs []signedRequest, perSecond float64) loadResult {
	var next atomic.Int64
	var mu sync.Mutex
	res := loadResult{status: map[int]int{}}
	var wg sync.WaitGroup
	start := time.Now()
	for range g.workers {
		snd, err := g.sender(url)
		if err != nil {
			panic(err) // the gateway's own URL
		}
		wg.Go(func() {
			defer snd.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(float64(i) / perSecond * float64(time.Second)))))
				status := snd.send(reqs[i])
				mu.Lock()
				res.status[status]++
				if status == 202 {
					res.accepted = append(res.accepted, i)
				} else {
					res.non2xx++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.sent = len(reqs)
	res.elapsed = time.Since(start)
	return res
}

// flowGoals are the PASS/MISS lines of a drain or steady scenario.
func flowGoals(o outcome, ratio float64) []goal {
	f := o.flow
	all := goal{fmt.Sprintf("(%d) every accepted event delivered once: %d of %d, %d twice (%d dead letters)", o.sc.num, o.delivered, o.accepted, o.twice, o.dead),
		o.err == nil && o.accepted > 0 && o.delivered == o.accepted && o.twice == 0 && o.dead == 0}
	if o.sc.steady {
		depth := float64(f.maxDepth) / math.Max(f.steadyRate, 1)
		return []goal{{fmt.Sprintf("(%d) %s: deepest queue %d events = %.2f s of its %.0f/s ingest (half the async capacity, %.0f/s), goal < %.1f s",
			o.sc.num, o.sc.title, f.maxDepth, depth, f.steadyRate, f.capacity, maxSteadyDepth), o.err == nil && f.steadyRate > 0 && depth < maxSteadyDepth}, all}
	}
	return []goal{{fmt.Sprintf("(%d) %s: %.0f events/s, %s of reverse_proxy's req/s, goal >= %.2f", o.sc.num, o.sc.title, f.drainRate(), fmtRatio(ratio), goalDrain),
		o.err == nil && ratio >= goalDrain}, all}
}

// flowUnit says what the table's req/s column shows for a drain or steady
// scenario.
func flowUnit(o outcome) string {
	if o.sc.steady {
		return " (paced)"
	}
	return " (delivered)"
}

// flowDetail is a drain or steady scenario's line under the table.
func flowDetail(o outcome) string {
	f := o.flow
	var line string
	if o.sc.steady {
		line = fmt.Sprintf("(%d) probe: %.0f/s accepted at full load; then %d requests paced at %.0f/s over %.1fs, deepest queue %d; gateway CPU %d µs per request",
			o.sc.num, f.capacity, o.load.sent, f.steadyRate, f.steadyFor.Seconds(), f.maxDepth, o.cpuPerReq.Microseconds())
	} else {
		line = fmt.Sprintf("(%d) %d events queued, %d delivered by the fresh gateway in %.2fs (first to last delivery seen), gateway CPU %d µs per event",
			o.sc.num, o.accepted, f.drained, f.drainFor.Seconds(), o.cpuPerReq.Microseconds())
	}
	if o.sc.redis && !o.sc.steady {
		line += fmt.Sprintf("; Redis per delivered event (INFO commandstats): %.2f commands run, a script's counted, in %.2f EVALSHA (round trips), of which %.2f fetches (XREADGROUP) and %.2f acknowledgements (XACK)",
			f.commandsPerEvent, f.scriptsPerEvent, f.fetchesPerEvent, f.acksPerEvent)
	}
	if len(o.roundRatios) > 1 {
		line += fmt.Sprintf("; ratio in each round %s (median shown)", fmtRatios(o.roundRatios))
	}
	if o.err != nil {
		line += fmt.Sprintf("; ERROR: %v", o.err)
	}
	return line
}
