package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/testproc"
)

// process is a child process that is stopped when the benchmark ends.
type process struct{ *testproc.Process }

// stop sends SIGTERM, then SIGKILL after 20s, and waits for the exit.
func (p process) stop() { p.Stop(20 * time.Second) }

// peakRSSMB is VmHWM, the process's peak resident set, in MB.
func (p process) peakRSSMB() float64 { return procStatusMB(p.Cmd.Process.Pid, "VmHWM:") }

// cpuTime is the CPU time the process used so far (user and system, from
// /proc/<pid>/stat, in clock ticks of 10 ms).
func (p process) cpuTime() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rssMB is VmRSS, the current resident set, in MB.
func (p process) rssMB() float64 { return procStatusMB(p.Cmd.Process.Pid, "VmRSS:") }

func procStatusMB(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// startRedis runs a private redis-server on a free port, without persistence.
func startRedis(dir string) (*process, int, error) {
	port, err := testproc.FreePort(false)
	if err != nil {
		return nil, 0, err
	}
	p, err := testproc.StartRedis(dir, port)
	if err != nil {
		return nil, 0, err
	}
	return &process{p}, port, nil
}

// gatewayVars are the fields of a Caddyfile template.
type gatewayVars struct {
	HTTP, Admin int
	Backend     string
	Redis       string // redis:// URL; empty means the embedded store
	Rate        string
	Secret      string
}

// gateway is one bin/caddy process with its own data directory.
type gateway struct {
	process
	vars gatewayVars
}

func startGateway(caddyBin, caddyfile string, vars gatewayVars, dir string) (*gateway, error) {
	var err error
	if vars.HTTP, err = testproc.FreePort(false); err != nil {
		return nil, err
	}
	if vars.Admin, err = testproc.FreePort(false); err != nil {
		return nil, err
	}
	vars.Secret = secret
	config := filepath.Join(dir, "Caddyfile")
	if err := testproc.WriteConfig(config, caddyfile, vars); err != nil {
		return nil, err
	}
	p, err := testproc.StartCaddy(caddyBin, config, dir, vars.HTTP, nil, nil)
	if err != nil {
		return nil, err
	}
	return &gateway{process: process{p}, vars: vars}, nil
}

func (g *gateway) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", g.vars.HTTP, path)
}

func (g *gateway) adminURL(path string) string {
	return fmt.Sprintf("http://localhost:%d%s", g.vars.Admin, path)
}

// queueStats is one row of GET /webhook_ingress/queues.
type queueStats struct {
	Destination string `json:"destination"`
	Queued      int64  `json:"queued"`
	InFlight    int64  `json:"in_flight"`
	Retrying    int64  `json:"retrying"`
	Dead        int64  `json:"dead"`
}

// backlog sums the queues: entries still to deliver, and dead letters.
func (g *gateway) backlog() (pending, dead int64, err error) {
	resp, err := http.Get(g.adminURL("/webhook_ingress/queues"))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("admin queues: %d %s", resp.StatusCode, b)
	}
	var qs []queueStats
	if err := json.Unmarshal(b, &qs); err != nil {
		return 0, 0, err
	}
	for _, q := range qs {
		pending += q.Queued + q.Retrying // queued includes in-flight entries
		dead += q.Dead
	}
	return pending, dead, nil
}

// pprof fetches a profile of the gateway from Caddy's admin endpoint
// (`profile?seconds=5`, `allocs`) into path.
func (g *gateway) pprof(seconds int, query, path string) error {
	client := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	resp, err := client.Get(g.adminURL("/debug/pprof/" + query))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// destination is the internal Go service behind the gateway. It answers
// 200 and counts successful deliveries by Webhook-Id.
type destination struct {
	srv *http.Server
	URL string

	mu        sync.Mutex
	delivered map[string]int
	// first and last are when the first and the latest delivery since
	// reset or mark arrived, for the drain scenarios' timing.
	first, last time.Time
}

func startDestination() (*destination, error) {
	d := &destination{delivered: map[string]int{}}
	sink, err := testproc.StartSink(http.HandlerFunc(d.serve))
	if err != nil {
		return nil, err
	}
	d.srv, d.URL = sink.Server, sink.URL
	return d, nil
}

func (d *destination) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if id := r.Header.Get("Webhook-Id"); id != "" {
		now := time.Now()
		d.mu.Lock()
		d.delivered[id]++
		if d.first.IsZero() {
			d.first = now
		}
		d.last = now
		d.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// reset forgets what was delivered so far.
func (d *destination) reset() {
	d.mu.Lock()
	d.delivered = map[string]int{}
	d.first, d.last = time.Time{}, time.Time{}
	d.mu.Unlock()
}

// mark starts the timing of first and last over, and returns how many
// distinct ids arrived so far.
func (d *destination) mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.first, d.last = time.Time{}, time.Time{}
	return len(d.delivered)
}

// span is the time from the first delivery since mark to the latest.
func (d *destination) span() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last.Sub(d.first)
}

// count reports how many of ids were delivered, and how many distinct ids
// arrived more than once.
func (d *destination) count(ids []string) (delivered, twice int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if d.delivered[id] > 0 {
			delivered++
		}
	}
	for _, n := range d.delivered {
		if n > 1 {
			twice++
		}
	}
	return delivered, twice
}

func (d *destination) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.delivered)
}

// storeCalls sums the gateway's store calls (claim, commit, release,
// enqueue) from its /metrics: each is one Redis round trip.
func (g *gateway) storeCalls() (float64, error) {
	resp, err := http.Get(g.adminURL("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	const name = "caddy_webhook_store_duration_seconds_count"
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}
