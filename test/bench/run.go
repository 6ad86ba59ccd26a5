package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
)

// bench is one benchmark run: the shared load generator, destination and
// private Redis.
type bench struct {
	cfg      config
	caddyBin string
	gen      *generator
	dest     *destination
	rdb      *redis.Client
	redisURL string
	redisAdr string
	// redisProc is the private redis-server, for its CPU time.
	redisProc *process
}

// outcome is what one scenario measured.
type outcome struct {
	sc   scenario
	load loadResult
	err  error

	rssMB float64
	// cpuPerReq is the gateway's CPU time over the timed phase per timed
	// request: unlike req/s it hardly depends on what else runs.
	cpuPerReq time.Duration
	// redisCPUPerReq is redis-server's CPU time over the timed phase per
	// timed request; it runs on the same cores.
	redisCPUPerReq time.Duration
	// Redis: round trips each timed request waited for (the gateway's
	// store calls, each one round trip); commands sent per request, from
	// MONITOR (NaN when not measured); INFO commandstats per timed request.
	roundTrips, commandsSent, deliveryCommands float64
	scriptsPerReq, commandsPerReq              float64

	// pairRatio is the 2xx rate over that of the reference run just
	// before; roundRatios are those of every round, and the report shows
	// their median.
	pairRatio   float64
	roundRatios []float64
	// roundRates are the 2xx rates of every round, for the ratio of a
	// retention scenario to its twin.
	roundRates []float64

	// webhook_forward: the backlog after the burst.
	accepted, delivered, twice int
	dead                       int64
	drain                      time.Duration

	// flow is set by the drain and steady scenarios.
	flow *flowOutcome
}

func (o outcome) allDelivered() bool {
	return o.err == nil && o.accepted > 0 && o.delivered == o.accepted && o.dead == 0
}

func (b *bench) runScenario(ctx context.Context, sc scenario) (out outcome) {
	if sc.run != nil {
		return sc.run(b, ctx, sc)
	}
	out = outcome{sc: sc, roundTrips: math.NaN(), commandsSent: math.NaN(), deliveryCommands: math.NaN()}
	dir, err := os.MkdirTemp("", "whi-bench-")
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(dir)
	b.dest.reset()
	vars := gatewayVars{Backend: b.dest.URL, Rate: b.cfg.rate}
	if sc.redis {
		vars.Redis = b.redisURL
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			out.err = err
			return out
		}
	}
	reqs, err := signRequests(sc, sc.key, 0, b.cfg.requests)
	if err != nil {
		out.err = err
		return out
	}
	g, err := startGateway(b.caddyBin, sc.caddyfile, vars, dir)
	if err != nil {
		out.err = err
		return out
	}
	defer g.stop()

	var idlePerSec float64
	if sc.redis {
		idlePerSec = b.idleCommandsPerSec(ctx, 2*time.Second)
	}
	var before, after commandStats
	var cpuBefore, redisCPUBefore time.Duration
	var callsBefore float64
	onTimed := func() {
		cpuBefore, redisCPUBefore = g.cpuTime(), b.redisProc.cpuTime()
		if sc.redis {
			callsBefore, _ = g.storeCalls()
			before, _ = readCommandStats(ctx, b.rdb)
		}
		if b.cfg.profileDir != "" {
			go b.profile(g, sc)
		}
	}
	out.load = b.gen.run(g.url("/hooks"), reqs, b.cfg.warmup, b.cfg.duration, onTimed)
	if out.load.sent > 0 {
		out.cpuPerReq = (g.cpuTime() - cpuBefore) / time.Duration(out.load.sent)
		out.redisCPUPerReq = (b.redisProc.cpuTime() - redisCPUBefore) / time.Duration(out.load.sent)
	}
	if sc.redis && out.load.sent > 0 {
		if calls, err := g.storeCalls(); err == nil {
			out.roundTrips = (calls - callsBefore) / float64(out.load.sent)
		}
		after, _ = readCommandStats(ctx, b.rdb)
		scripts, all := after.delta(before)
		idle := idlePerSec * out.load.elapsed.Seconds()
		out.scriptsPerReq = float64(scripts) / float64(out.load.sent)
		out.commandsPerReq = (float64(all) - idle) / float64(out.load.sent)
	}
	if sc.forward {
		ids := make([]string, len(out.load.accepted))
		for i, n := range out.load.accepted {
			ids[i] = reqs[n].id
		}
		out.accepted = len(ids)
		reqs = nil // let the request list go before the drain
		if err := b.drain(g, ids, &out); err != nil {
			out.err = err
		}
	}
	if sc.redis && out.err == nil {
		if err := b.measureCommands(ctx, g, sc, &out); err != nil {
			out.err = fmt.Errorf("commands sent: %w", err)
		}
	}
	out.rssMB = g.peakRSSMB()
	return out
}

// drain waits until every accepted event reached the destination and the
// queues are empty.
func (b *bench) drain(g *gateway, ids []string, out *outcome) error {
	start := time.Now()
	timeout := time.Minute + time.Duration(float64(len(ids))/100)*time.Second // at least 100 deliveries/s
	for {
		pending, dead, err := g.backlog()
		out.dead = dead
		out.delivered, out.twice = b.dest.count(ids)
		if err == nil && pending == 0 && out.delivered == len(ids) {
			out.drain = time.Since(start)
			return nil
		}
		if time.Since(start) > timeout {
			out.drain = time.Since(start)
			return fmt.Errorf("after %s: %d of %d accepted events delivered, %d still queued (admin: %v)",
				timeout, out.delivered, len(ids), pending, err)
		}
		if pending == 0 && dead > 0 && err == nil {
			out.drain = time.Since(start)
			return fmt.Errorf("%d events went to the dead-letter queue", dead)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// idleCommandsPerSec measures what the gateway sends Redis with no load
// (delivery workers polling), in commandstats calls.
func (b *bench) idleCommandsPerSec(ctx context.Context, window time.Duration) float64 {
	before, err := readCommandStats(ctx, b.rdb)
	if err != nil {
		return 0
	}
	time.Sleep(window)
	after, err := readCommandStats(ctx, b.rdb)
	if err != nil {
		return 0
	}
	_, all := after.delta(before)
	return float64(all) / window.Seconds()
}

// calibrationRequests is the size of the burst sent while MONITOR runs.
const calibrationRequests = 2000

// measureCommands sends a fresh burst with MONITOR attached (which slows
// Redis, so it is not part of the timed phase) and counts the commands
// clients sent, less what the idle gateway sends over the same time. For
// webhook_forward, the delivery's share (measured while the burst drains)
// is reported apart from the ingest's.
func (b *bench) measureCommands(ctx context.Context, g *gateway, sc scenario, out *outcome) error {
	reqs, err := signRequests(sc, sc.key+"-rt", 0, calibrationRequests)
	if err != nil {
		return err
	}
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.id
	}
	m, err := startMonitor(b.redisAdr)
	if err != nil {
		return err
	}
	defer m.close()
	idleWindow := time.Second
	c0, i0 := m.snapshot(), m.ingest()
	time.Sleep(idleWindow)
	idlePerSec := float64(m.snapshot()-c0) / idleWindow.Seconds()
	idleIngestPerSec := float64(m.ingest()-i0) / idleWindow.Seconds()

	i1 := m.ingest()
	t1 := time.Now()
	res := b.gen.run(g.url("/hooks"), reqs, 0, time.Hour, nil)
	ok := res.sent - res.non2xx
	if ok == 0 {
		return fmt.Errorf("no request of the burst succeeded: %v", res.status)
	}
	burst := time.Since(t1)
	c2, d2 := m.snapshot(), b.dest.total()
	// Ingest's commands are told apart from the workers' by their keys, since
	// workers deliver (one at a time) while a burst comes in.
	out.commandsSent = (float64(m.ingest()-i1) - idleIngestPerSec*burst.Seconds()) / float64(ok)
	if !sc.forward {
		return nil
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if n, _ := b.dest.count(ids); n >= ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the burst was not delivered within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	drained := time.Since(t1) - burst
	c3, d3 := m.snapshot(), b.dest.total()
	perDelivery := (float64(c3-c2) - idlePerSec*drained.Seconds()) / float64(max(1, d3-d2))
	out.deliveryCommands = perDelivery
	return nil
}

// profile saves a CPU profile of the gateway taken during the timed phase,
// then its allocations since it started.
func (b *bench) profile(g *gateway, sc scenario) {
	seconds := max(1, int(b.cfg.duration.Seconds())-1)
	for _, p := range []struct{ kind, query string }{
		{"cpu", fmt.Sprintf("profile?seconds=%d", seconds)},
		{"allocs", "allocs"},
	} {
		path := filepath.Join(b.cfg.profileDir, fmt.Sprintf("%s-%d-%s.pprof", p.kind, sc.num, sc.key))
		if err := g.pprof(seconds, p.query, path); err != nil {
			fmt.Fprintf(os.Stderr, "%s profile of %s: %v\n", p.kind, sc.key, err)
			return
		}
		fmt.Printf("  %s profile: go tool pprof -top %s\n", p.kind, path)
	}
}
