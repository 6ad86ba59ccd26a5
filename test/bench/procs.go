package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 { // never the machine's own Redis
			return port, nil
		}
	}
}

func waitListening(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited before listening on %s", addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

// process is a child process that is killed when the benchmark ends.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	logs   bytes.Buffer
	mu     sync.Mutex
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after 20s, and waits for the exit.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// peakRSSMB is VmHWM, the process's peak resident set, in MB.
func (p *process) peakRSSMB() float64 { return procStatusMB(p.cmd.Process.Pid, "VmHWM:") }

// cpuTime is the CPU time the process used so far (user and system, from
// /proc/<pid>/stat, in clock ticks of 10 ms).
func (p *process) cpuTime() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
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
func (p *process) rssMB() float64 { return procStatusMB(p.cmd.Process.Pid, "VmRSS:") }

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
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--dir", dir)
	p, err := startProcess(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("starting redis-server (install it: apt-get install -y redis-server): %w", err)
	}
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second, p.exited); err != nil {
		return nil, 0, fmt.Errorf("redis-server: %w\n%s", err, p.Logs())
	}
	return p, port, nil
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
	*process
	vars gatewayVars
}

func startGateway(caddyBin, caddyfile string, vars gatewayVars, dir string) (*gateway, error) {
	var err error
	if vars.HTTP, err = freePort(); err != nil {
		return nil, err
	}
	if vars.Admin, err = freePort(); err != nil {
		return nil, err
	}
	vars.Secret = secret
	var buf bytes.Buffer
	if err := template.Must(template.New("Caddyfile").Parse(caddyfile)).Execute(&buf, vars); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(config, buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(caddyBin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	g := &gateway{process: p, vars: vars}
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", vars.HTTP), 30*time.Second, p.exited); err != nil {
		p.stop()
		return nil, fmt.Errorf("caddy: %w\n%s", err, p.Logs())
	}
	return g, nil
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &destination{URL: "http://" + l.Addr().String(), delivered: map[string]int{}}
	d.srv = &http.Server{Handler: http.HandlerFunc(d.serve)}
	go func() { _ = d.srv.Serve(l) }()
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
