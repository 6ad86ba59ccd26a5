package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machine describes where the figures were taken.
type machine struct {
	cpus           int
	cpu, goVersion string
	caddy, loadavg string
	date           time.Time
}

func collectMachine(caddyBin string) machine {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version(), date: time.Now().UTC()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command(caddyBin, "version").Output(); err == nil {
		m.caddy = strings.Fields(string(out))[0]
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.loadavg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

func (m machine) summary() string {
	return fmt.Sprintf("%d CPUs (%s), %s, Caddy %s, load average %s", m.cpus, m.cpu, m.goVersion, m.caddy, m.loadavg)
}

type report struct {
	cfg      config
	machine  machine
	outcomes []outcome
	backlog  *backlogOutcome
	eventLog []eventLogOutcome
	only     string
}

func (r report) reference() (outcome, bool) {
	for _, o := range r.outcomes {
		if o.sc.num == 1 && o.err == nil && o.load.sent > 0 {
			return o, true
		}
	}
	return outcome{}, false
}

// ratio is the scenario's 2xx rate (202 for webhook_forward) over the
// reference's.
func (r report) ratio(o outcome) float64 {
	if len(o.roundRatios) > 0 {
		return median(o.roundRatios)
	}
	ref, ok := r.reference()
	if !ok || o.err != nil && o.load.sent == 0 {
		return math.NaN()
	}
	return o.load.rate2xx() / ref.load.rate2xx()
}

// goal is one PASS/MISS line.
type goal struct {
	text string
	pass bool
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// The targets, from the issue that set them ("One claim per event"): ratios
// to reverse_proxy in the same run, and Redis's work per request, where
// Redis shares the cores and its CPU per new key is most of the budget.
const (
	goalVerifyEmbedded = 0.90
	goalVerifyRedis    = 0.80
	goalIngest         = 2.0
	maxRoundTrips      = 2
	// maxCommands counts the commands Redis runs per request, those a
	// script runs included, not the EVALSHA that runs them.
	maxCommands = 2
	// maxRedisCPU is redis-server's CPU per request for (3).
	maxRedisCPU = 8 * time.Microsecond
)

// goals are the PASS/MISS lines of o; none for the reference and for the
// scenarios that only profile.
func (r report) goals(o outcome) []goal {
	if o.sc.num == 1 || o.sc.optIn {
		return nil
	}
	var gs []goal
	ratio := r.ratio(o)
	if o.flow != nil {
		return flowGoals(o, ratio)
	}
	if o.sc.twin != 0 {
		return r.retainGoals(o, ratio)
	}
	ratioGoal := func(want float64) {
		what := ""
		if o.sc.forward {
			what = "ingest "
		}
		gs = append(gs, goal{fmt.Sprintf("(%d) %s: %s%s of reverse_proxy, goal >= %.2f", o.sc.num, o.sc.title, what, fmtRatio(ratio), want), ratio >= want})
	}
	switch {
	case o.sc.forward:
		ratioGoal(goalIngest)
		gs = append(gs, goal{fmt.Sprintf("(%d) every accepted event delivered: %d of %d (%d dead letters)", o.sc.num, o.delivered, o.accepted, o.dead), o.allDelivered()})
	case o.sc.redis:
		ratioGoal(goalVerifyRedis)
	default:
		ratioGoal(goalVerifyEmbedded)
	}
	if !o.sc.redis {
		return gs
	}
	commands := o.commandsPerReq - o.scriptsPerReq
	gs = append(gs,
		goal{fmt.Sprintf("(%d) Redis commands per request: %s (INFO commandstats, a script's commands counted, not the EVALSHA), goal <= %d", o.sc.num, fmtFloat(commands), maxCommands),
			o.load.sent > 0 && commands <= maxCommands+0.05},
		goal{fmt.Sprintf("(%d) Redis round trips per request: %s, goal <= %d", o.sc.num, fmtFloat(o.roundTrips), maxRoundTrips),
			!math.IsNaN(o.roundTrips) && o.roundTrips <= maxRoundTrips+0.05})
	if !o.sc.forward {
		gs = append(gs, goal{fmt.Sprintf("(%d) redis-server CPU per request: %d µs, goal <= %d µs", o.sc.num, o.redisCPUPerReq.Microseconds(), maxRedisCPU.Microseconds()),
			o.load.sent > 0 && o.redisCPUPerReq <= maxRedisCPU})
	}
	return gs
}

func (r report) rowVerdict(o outcome) string {
	if o.err != nil {
		return "ERROR"
	}
	if o.sc.num == 1 {
		return "reference"
	}
	gs := r.goals(o)
	if len(gs) == 0 {
		return "-"
	}
	for _, g := range gs {
		if !g.pass {
			return "MISS"
		}
	}
	return "PASS"
}

func fmtRatio(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", f)
}

func fmtFloat(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.2f", f)
}

func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

var tableHeader = []string{"#", "scenario", "req/s", "p50", "p99", "non-2xx", "vs (1)", "gateway CPU/req", "Redis RT/req", "peak RSS MB", "goals"}

func (r report) rows() [][]string {
	var rows [][]string
	for _, o := range r.outcomes {
		rt := "-"
		if o.sc.redis {
			rt = fmtFloat(o.roundTrips)
		}
		rate := fmt.Sprintf("%.0f", o.load.rate2xx())
		if o.sc.forward {
			rate += " (202)"
		}
		if o.flow != nil {
			rate += flowUnit(o)
		}
		rows = append(rows, []string{fmt.Sprint(o.sc.num), o.sc.title, rate, fmtLatency(o.load.p50), fmtLatency(o.load.p99),
			fmt.Sprint(o.load.non2xx), fmtRatio(r.ratio(o)), fmt.Sprintf("%d µs", o.cpuPerReq.Microseconds()), rt, fmt.Sprintf("%.0f", o.rssMB), r.rowVerdict(o)})
	}
	return rows
}

// details are the lines under the table: goals, then what each scenario did.
func (r report) details() []string {
	var lines []string
	for _, o := range r.outcomes {
		for _, g := range r.goals(o) {
			lines = append(lines, fmt.Sprintf("%s %s", passMiss(g.pass), g.text))
		}
	}
	if b := r.backlog; b != nil {
		lines = append(lines, fmt.Sprintf("%s backlog of %d events in Redis: drained at %.0f events/s, %s of reverse_proxy's req/s just before, goal >= %.2f; draining gateway peak RSS %.0f MB, goal < %.0f MB; %d of %d accepted events delivered, %d twice",
			passMiss(b.pass(r.cfg.backlogRSSMB)), b.events, b.rate(), fmtRatio(b.ratio()), goalBacklog, b.peakRSSMB, r.cfg.backlogRSSMB, b.delivered, b.accepted, b.twice))
	}
	for _, o := range r.eventLog {
		goalLine, _ := eventLogLines(o)
		lines = append(lines, goalLine)
	}
	lines = append(lines, "")
	for _, o := range r.outcomes {
		l := o.load
		if o.flow != nil {
			lines = append(lines, flowDetail(o))
			continue
		}
		line := fmt.Sprintf("(%d) %d timed requests in %.1fs", o.sc.num, l.sent, l.elapsed.Seconds())
		if l.non2xx > 0 {
			line += fmt.Sprintf(", answers by status %v (0 = connection error)", l.status)
		}
		if l.ranOut {
			line += "; the request list ran out before the duration (raise -requests)"
		}
		if len(o.roundRatios) > 1 {
			line += fmt.Sprintf("; ratio in each round %s (median shown)", fmtRatios(o.roundRatios))
		}
		if o.sc.redis {
			line += fmt.Sprintf("; the gateway sends %s Redis commands per request (MONITOR); INFO commandstats per timed request: %.2f EVALSHA, %.2f commands counting those run inside scripts; redis-server CPU %d µs per request",
				fmtFloat(o.commandsSent), o.scriptsPerReq, o.commandsPerReq, o.redisCPUPerReq.Microseconds())
		}
		if o.sc.forward {
			line += fmt.Sprintf("; %d accepted (warm-up included), backlog delivered in %.1fs after the burst, %d delivered twice",
				o.accepted, o.drain.Seconds(), o.twice)
			if !math.IsNaN(o.deliveryCommands) {
				line += fmt.Sprintf("; delivery sends %.2f Redis commands per event (MONITOR)", o.deliveryCommands)
			}
		}
		if o.err != nil {
			line += fmt.Sprintf("; ERROR: %v", o.err)
		}
		lines = append(lines, line)
	}
	if b := r.backlog; b != nil {
		line := fmt.Sprintf("(backlog) %d events sent in %.0fs, %d accepted; reverse_proxy %.0f req/s; a fresh gateway with the default delivery settings delivered %d of them in %.0fs from its first delivery to its last (%.0f/s), all done %.0fs after its start, %d twice; RSS peak %.0f MB (VmHWM), highest sample %.0f MB",
			b.events, b.ingest.Seconds(), b.accepted, b.refRate, b.drained, b.drainFor.Seconds(), b.rate(), b.drain.Seconds(), b.twice, b.peakRSSMB, b.maxSampledRSSMB)
		if b.err != nil {
			line += fmt.Sprintf("; ERROR: %v", b.err)
		}
		lines = append(lines, line)
	}
	for _, o := range r.eventLog {
		_, detail := eventLogLines(o)
		lines = append(lines, detail)
	}
	return lines
}

func (r report) terminal() string {
	var rows [][]string
	if len(r.outcomes) > 0 {
		rows = append([][]string{tableHeader}, r.rows()...)
	}
	widths := make([]int, len(tableHeader))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	var sb strings.Builder
	for _, row := range rows {
		for i, c := range row {
			fmt.Fprintf(&sb, "%-*s  ", widths[i], c)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\n")
	for _, l := range r.details() {
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

func (r report) markdown() string {
	var sb strings.Builder
	m := r.machine
	sb.WriteString("# Benchmarks\n\n")
	sb.WriteString("Generated by `make bench` (`go run ./test/bench`); do not edit by hand.\n\n")
	fmt.Fprintf(&sb, "- Date: %s\n", m.date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&sb, "- Machine: %d CPUs (`nproc`), %s; load average at the start %s\n", m.cpus, m.cpu, m.loadavg)
	fmt.Fprintf(&sb, "- Go %s, Caddy %s\n", strings.TrimPrefix(m.goVersion, "go"), m.caddy)
	fmt.Fprintf(&sb, "- Load: %d keep-alive connections, %s warm-up then %s timed per scenario, unique pre-signed Standard Webhooks requests of about 1 KB\n",
		r.cfg.connections, r.cfg.warmup, r.cfg.duration)
	flags := strings.Join(os.Args[1:], " ")
	if flags == "" {
		flags = "(defaults)"
	}
	fmt.Fprintf(&sb, "- Flags: `%s`\n\n", flags)

	if len(r.outcomes) > 0 {
		sb.WriteString("| " + strings.Join(tableHeader, " | ") + " |\n")
		sb.WriteString("|" + strings.Repeat("---|", len(tableHeader)) + "\n")
		for _, row := range r.rows() {
			sb.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		sb.WriteString("\n")
	}
	for _, l := range r.details() {
		if l == "" {
			sb.WriteString("\n")
			continue
		}
		sb.WriteString("- " + l + "\n")
	}
	sb.WriteString(method)
	return sb.String()
}

const method = `
## How it is measured

Reproduce with ` + "`make bench`" + ` (` + "`go run ./test/bench`" + `; ` + "`-h`" + ` lists the flags:
` + "`-duration`" + `, ` + "`-rounds`" + `, ` + "`-warmup`" + `, ` + "`-requests`" + `, ` + "`-only 3,forward-redis`" + `, ` + "`-out`" + `,
` + "`-rate`" + `, ` + "`-drain`" + `, ` + "`-steady`" + `, ` + "`-backlog 1000000`" + `, ` + "`-events-log 1000000`" + `,
` + "`-events-log-store`" + `, ` + "`-profile <dir>`" + `). Everything runs in one process
tree on one machine: the load generator, a local Go HTTP service as the
destination, a private ` + "`redis-server`" + ` on a free port (never 6379; no
persistence), and for every scenario its own ` + "`bin/caddy`" + ` with a fresh
` + "`XDG_DATA_HOME`" + `. The machine is shared, so compare rows of one run, not runs:
the scenarios run ` + "`-rounds`" + ` times (default 3), interleaved, and each right
after a run of the reference that its ratio in that round is taken
against: the machine's speed drifts within the minute or two a round
takes, and a reference measured a minute apart moved ratios by up to 2x.
Each ratio shown is the median of its rounds; the reference's row is its
last run of the middle round.

1. ` + "`reverse_proxy`" + ` to the Go service: the reference for every ratio.
2. ` + "`webhook_verify standard`" + ` + ` + "`reverse_proxy`" + `, embedded store.
3. The same with Redis.
4. ` + "`webhook_verify`" + ` + ` + "`webhook_forward`" + ` with ` + "`rate 3000/s`" + `, Redis: the ingest
   rate is 202s per second; then the backlog is drained (admin API
   ` + "`GET /webhook_ingress/queues`" + ` empty and every accepted event id seen by
   the destination).
5. The same with the embedded store.
6. Only when named (` + "`-only 6`" + `), with no goal: the same signature
   verified by the generic ` + "`hmac`" + ` scheme, which signs no timestamp, with
   ` + "`dedupe off`" + `, so nothing is claimed: webhook_verify's own cost with no
   store, for profiles.
7. Drain, Redis: ` + "`-drain`" + ` events (50,000) are queued through a gateway whose
   ` + "`webhook_forward`" + ` lets one a minute out (` + "`rate 1/m`" + `), which then stops; a fresh
   gateway on the same store, with every delivery setting at its default
   (no ` + "`rate`" + `, ` + "`concurrency 8`" + `), delivers them to the Go service, which answers at
   once. The rate is the events it delivered over the time from the first
   delivery to the last (as the destination saw them: the gateway's start
   is left out), and its ratio is to the reverse_proxy run just before,
   like every other. Redis's work per delivered event is INFO commandstats
   over the drain: commands run, script calls (each one round trip), and
   among them the fetches (XREADGROUP) and acknowledgements (XACK).
8. The same with the embedded store.
9. Steady, Redis: a fresh gateway with the default delivery settings is
   loaded at full speed for the warm-up and 3 s (its async capacity, in
   202s per second), that backlog is drained, then requests are sent at
   half that capacity, each at its due time, for ` + "`-steady`" + ` (20 s) while
   deliveries run; the queue's depth (admin API) is sampled every 100 ms
   and the deepest must stay under one second of the paced rate.
10. The same with the embedded store.

**Retention** (13-16) is 2-5 again with the event log on (` + "`retain 72h`" + ` in the
global ` + "`webhook_ingress`" + ` block, with Redis where they use it), each run right
after its twin in every round: besides its ratio to the reference, its
rate over its twin's in the same round (the median of the rounds) must be
at least 0.95, a drop of at most 5 %. Naming one in ` + "`-only`" + ` runs its twin too.

**Load generator.** The project's own (test/bench/load.go, rawclient.go):
32 workers on 32 keep-alive connections, a fixed list of requests each with
its own ` + "`webhook-id`" + ` and body, all signed before the timed phase, so
nonces and dedup do real work and the generator does no HMAC while
measuring. Like wrk, it writes each request as HTTP/1.1 bytes on its socket
and reads back only the status line, the headers it needs and the body's
length: everything shares two cores, and net/http's client cost about as
much CPU per request as the gateway itself, which hid the difference between
scenarios (` + "`-client http`" + ` still measures with it). The warm-up's requests
are left out of the figures. Every scenario uses the same generator, which
is what the ratios need. wrk itself (` + "`apt-get install -y wrk`" + `) would need a
Lua script that reads the pre-signed list and reports which requests were
accepted; it is not used so that the tool runs anywhere Go does. req/s counts
2xx answers (202 for 4 and 5); latencies are of every timed request.

**Redis round trips** are those each request waits for: the gateway's
store calls over the timed phase (` + "`caddy_webhook_store_duration_seconds_count`" + `
on its ` + "`/metrics`" + `: claim, commit, release, enqueue) per timed request. Each
call is one round trip, which the store's ` + "`TestRedisOneRoundTrip`" + ` checks
with a client hook. Concurrent requests share them: what they send while
a pipeline is in flight goes out as the next one, and the calls of one
script in it as one EVALSHA. So Redis's work per request is less, shown
apart: INFO commandstats (Redis 7 counts the commands a script runs under
their own names as well as the EVALSHA), and the commands the gateway
sends, counted after the timed phase over a burst of 2,000 fresh requests
with MONITOR attached (it slows Redis, so it is kept out of the timed
phase), less what the idle gateway sends meanwhile and what MONITOR marks
as run by Lua. For 4, what the delivery workers send while the burst
drains is measured per delivered event.

**Gateway CPU per request** is the gateway process's CPU time (user and
system, from /proc/<pid>/stat) over the timed phase divided by the timed
requests. It hardly depends on what else the machine runs, so it explains a
ratio when req/s is disturbed; background work (the group commit, and the
delivery of the backlog in 4 and 5) is included.

**Memory.** Peak RSS is the gateway's VmHWM from /proc/<pid>/status at the
end of the scenario (after the drain for 4 and 5). ` + "`-backlog N`" + ` (off by
default; 1,000,000 takes several minutes and about 2 GB in Redis) queues N
events through a gateway that lets one delivery a minute out, stops it,
runs the reference, and starts a fresh gateway that drains them with the
default delivery settings (no rate, concurrency 8): its rate (timed as in
7) must be at least reverse_proxy's and its VmHWM stay under
` + "`-backlog-rss`" + ` (150 MB). ` + "`-events-log N`" + ` (off by default, or ` + "`-only eventlog`" + ` for a
million) sends N events through a gateway with ` + "`retain 72h`" + ` (and ` + "`retain_size 8GiB`" + `,
so that the embedded log keeps them all) in front of ` + "`reverse_proxy`" + `, in the
store ` + "`-events-log-store`" + ` names (embedded, redis or both), stops it, and
starts a fresh gateway on the same store that answers
` + "`GET /webhook_ingress/events?limit=1000`" + ` page after page, following the
` + "`Link: <...>; rel=\"next\"`" + ` header to the end; its VmHWM (start-up and listing)
must stay under 150 MB. The report gives the fill's rate, the listing's
records per second, how many records the listing found of the events
answered 2xx, and the recorder's dropped records
(` + "`caddy_webhook_events_unrecorded_total`" + `, a full buffer).

**Profiles.** ` + "`-profile <dir>`" + ` saves a CPU profile of the gateway during each
timed phase from Caddy's admin endpoint (` + "`/debug/pprof/profile`" + `), then its
allocations (` + "`allocs`" + `); read one with ` + "`go tool pprof -top <file>`" + `. With
` + "`-events-log`" + `, it saves the listing gateway's heap after the listing too.
`

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmtRatio(x)
	}
	return strings.Join(parts, " ")
}
