// Command bench measures the gateway against plain Caddy reverse_proxy in
// one run, on this machine, with one load generator: `make bench`, or
// `go run ./test/bench -h` for the flags. It writes BENCHMARKS.md.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

type config struct {
	duration, warmup time.Duration
	requests         int
	rounds           int
	connections      int
	client           string
	out              string
	rate             string
	backlog          int
	backlogRSSMB     float64
	drainEvents      int
	eventsLog        int
	eventsLogStore   string
	steady           time.Duration
	caddyBin         string
	profileDir       string
}

func main() {
	var cfg config
	var only string
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "timed phase of each scenario")
	flag.IntVar(&cfg.rounds, "rounds", 3, "run the scenarios this many times, interleaved, and report the median ratio (the machine is shared and noisy)")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load before the timed phase, left out of the figures")
	flag.IntVar(&cfg.requests, "requests", 300000, "pre-signed unique requests per scenario; a scenario ends early when they run out")
	flag.IntVar(&cfg.connections, "connections", 32, "concurrent keep-alive connections")
	flag.StringVar(&cfg.client, "client", "raw", "load generator's client: raw (HTTP/1.1 bytes on a socket, like wrk) or http (net/http)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run, by number (1-16) or name ("+scenarioNames()+
		"), or \"backlog\" or \"eventlog\"; the reference (1) always runs too, ratios need it, and so does the twin of 13-16; 6, 11 and 12 run only when named")
	flag.StringVar(&cfg.out, "out", "BENCHMARKS.md", "Markdown report to write; empty for none")
	flag.StringVar(&cfg.rate, "rate", "3000/s", "the webhook_forward destination's rate")
	flag.IntVar(&cfg.backlog, "backlog", 0, "also queue this many events in Redis and check the gateway's memory while it drains them (1000000 takes several minutes)")
	flag.IntVar(&cfg.eventsLog, "events-log", 0, "also record this many events in an event log and check the gateway's memory while it lists them all (1000000 takes several minutes)")
	flag.StringVar(&cfg.eventsLogStore, "events-log-store", "embedded", "the store of -events-log: embedded, redis or both")
	flag.IntVar(&cfg.drainEvents, "drain", 50000, "events queued for each drain scenario (7, 8)")
	flag.DurationVar(&cfg.steady, "steady", 20*time.Second, "ingest phase of the steady scenarios (9, 10)")
	flag.Float64Var(&cfg.backlogRSSMB, "backlog-rss", 150, "peak RSS in MB the draining gateway must stay under")
	flag.StringVar(&cfg.caddyBin, "caddy", "", "gateway binary; empty builds bin/caddy from this checkout first")
	flag.StringVar(&cfg.profileDir, "profile", "", "save CPU and allocation profiles of the gateway during each timed phase into this directory")
	flag.Parse()

	if err := run(cfg, only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func scenarioNames() string {
	var names []string
	for _, sc := range scenarios {
		names = append(names, sc.key)
	}
	return strings.Join(names, ", ")
}

// measurements are what -only names besides scenarios.
var measurements = []string{"backlog", "eventlog"}

// selectScenarios parses -only; the reference always runs, and so does a
// retention scenario's twin.
func selectScenarios(only string) (selected []scenario, measures []string, err error) {
	if only == "" {
		for _, sc := range scenarios {
			if !sc.optIn {
				selected = append(selected, sc)
			}
		}
		return selected, nil, nil
	}
	want := map[int]bool{1: true}
	onlyMeasures := true
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if slices.Contains(measurements, name) {
			measures = append(measures, name)
			continue
		}
		onlyMeasures = false
		i := slices.IndexFunc(scenarios, func(sc scenario) bool { return sc.key == name || strconv.Itoa(sc.num) == name })
		if i < 0 {
			return nil, nil, fmt.Errorf("unknown scenario %q; want 1-16, %s, backlog or eventlog", name, scenarioNames())
		}
		want[scenarios[i].num] = true
		if t := scenarios[i].twin; t != 0 {
			want[t] = true
		}
	}
	if onlyMeasures {
		return nil, measures, nil
	}
	for _, sc := range scenarios {
		if want[sc.num] {
			selected = append(selected, sc)
		}
	}
	return selected, measures, nil
}

func run(cfg config, only string) error {
	selected, measures, err := selectScenarios(only)
	if err != nil {
		return err
	}
	if slices.Contains(measures, "backlog") && cfg.backlog == 0 {
		cfg.backlog = 1000000
	}
	if slices.Contains(measures, "eventlog") && cfg.eventsLog == 0 {
		cfg.eventsLog = 1000000
	}
	stores, err := eventLogStores(cfg.eventsLogStore)
	if err != nil {
		return err
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if cfg.caddyBin == "" {
		cfg.caddyBin = filepath.Join(root, "bin", "caddy")
		fmt.Println("building", cfg.caddyBin)
		build := exec.Command("go", "build", "-o", cfg.caddyBin, "./cmd/caddy")
		build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the gateway: %w", err)
		}
	}

	ctx := context.Background()
	redisDir, err := os.MkdirTemp("", "whi-bench-redis-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(redisDir)
	gen, err := newGenerator(cfg.connections, cfg.client)
	if err != nil {
		return err
	}
	rs, port, err := startRedis(redisDir)
	if err != nil {
		return err
	}
	defer rs.stop()
	dest, err := startDestination()
	if err != nil {
		return err
	}
	defer dest.srv.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	b := &bench{cfg: cfg, caddyBin: cfg.caddyBin, gen: gen, dest: dest, redisProc: rs,
		rdb: redis.NewClient(&redis.Options{Addr: addr}), redisURL: "redis://" + addr + "/0", redisAdr: addr}
	defer b.rdb.Close()

	m := collectMachine(cfg.caddyBin)
	fmt.Printf("%s, %d connections, %s warm-up + %s per scenario, private redis-server on %d\n",
		m.summary(), cfg.connections, cfg.warmup, cfg.duration, port)

	outcomes := b.runRounds(ctx, selected)
	var bl *backlogOutcome
	if cfg.backlog > 0 {
		fmt.Printf("(backlog) %d events queued in Redis, then drained ...\n", cfg.backlog)
		o := b.runBacklog(ctx, cfg.backlog)
		bl = &o
	}
	var evs []eventLogOutcome
	if cfg.eventsLog > 0 {
		for _, st := range stores {
			fmt.Printf("(eventlog) %d events recorded in the %s event log, then listed ...\n", cfg.eventsLog, st)
			evs = append(evs, b.runEventLog(ctx, st, cfg.eventsLog))
		}
	}
	rep := report{cfg: cfg, machine: m, outcomes: outcomes, backlog: bl, eventLog: evs, only: only}
	fmt.Println()
	fmt.Print(rep.terminal())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", cfg.out)
	}
	return nil
}

// runRounds runs every scenario cfg.rounds times, interleaved, each right
// after a run of the reference (1) that its ratio is taken against: the
// machine is shared, and its speed drifts within the minute or two a round
// takes (the drains of 4 and 5), so a scenario compared with a reference
// measured a minute earlier was off by up to 2x. Each scenario is reported
// by its median round, with the ratios and rates of all rounds.
func (b *bench) runRounds(ctx context.Context, selected []scenario) []outcome {
	run := func(r, rounds int, sc scenario) outcome {
		fmt.Printf("round %d/%d: (%d) %s ...\n", r+1, rounds, sc.num, sc.title)
		o := b.runScenario(ctx, sc)
		if o.err != nil {
			fmt.Printf("  error: %v\n", o.err)
		}
		return o
	}
	rounds := make([][]outcome, max(1, b.cfg.rounds))
	for r := range rounds {
		var ref outcome
		for _, sc := range selected {
			if sc.num == 1 && len(selected) > 1 {
				continue // run before each of the others
			}
			if len(selected) > 1 {
				ref = run(r, len(rounds), selected[0])
				ref.pairRatio = 1
			}
			o := run(r, len(rounds), sc)
			if sc.num == 1 {
				o.pairRatio = 1
			} else if ref.err == nil && ref.load.rate2xx() > 0 {
				o.pairRatio = o.load.rate2xx() / ref.load.rate2xx()
			} else {
				o.pairRatio = math.NaN()
			}
			rounds[r] = append(rounds[r], o)
		}
		if len(selected) > 1 {
			rounds[r] = append([]outcome{ref}, rounds[r]...) // the round's last reference
		}
	}
	out := make([]outcome, len(selected))
	for i := range selected {
		picks := make([]outcome, len(rounds))
		var ratios, rates []float64
		for r, outs := range rounds {
			picks[r] = outs[i]
			ratios = append(ratios, outs[i].pairRatio)
			rates = append(rates, outs[i].load.rate2xx())
		}
		slices.SortFunc(picks, func(a, b outcome) int { return cmp.Compare(a.pairRatio, b.pairRatio) })
		out[i] = picks[len(picks)/2]
		out[i].roundRatios, out[i].roundRates = ratios, rates
	}
	return out
}

// repoRoot is the directory of go.mod above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}
