// Package test runs the built Caddy (bin/caddy) on real ports against real
// HTTP services and a real redis-server.
package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/testproc"
)

var (
	repoRoot   string
	caddyBin   string
	nodeDir    string
	httpClient = &http.Client{Timeout: 30 * time.Second}
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	nodeDir = filepath.Join(repoRoot, "test", "npm")
	caddyBin = os.Getenv("WHI_CADDY")
	if caddyBin == "" {
		// Build afresh so the tests never run a stale binary.
		caddyBin = filepath.Join(repoRoot, "bin", "caddy")
		build := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		build.Dir = repoRoot
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building bin/caddy:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func freePort(t testing.TB) int {
	t.Helper()
	port, err := testproc.FreePort(false)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// gateway is one bin/caddy process.
type gateway struct {
	t        testing.TB
	HTTP     int    // port of the webhook site
	Admin    int    // admin endpoint port
	DataDir  string // XDG_DATA_HOME: the embedded store lives under it
	config   string
	proc     *testproc.Process // nil before Start
	cmd      *exec.Cmd         // proc's
	logs     *testproc.Output  // of every start
	extraEnv []string
}

// gatewayVars are the template fields of a test Caddyfile.
type gatewayVars struct {
	HTTP, Admin int
	Backend     string
	Redis       string
	DataDir     string
}

// newGateway prepares a gateway; Caddyfile templates see gatewayVars.
func newGateway(t testing.TB, caddyfile string, vars gatewayVars) *gateway {
	t.Helper()
	g := &gateway{t: t, HTTP: freePort(t), Admin: freePort(t), DataDir: t.TempDir(), logs: new(testproc.Output)}
	vars.HTTP, vars.Admin, vars.DataDir = g.HTTP, g.Admin, g.DataDir
	g.config = renderConfig(t, caddyfile, vars)
	t.Cleanup(func() {
		g.Kill()
		// A race-instrumented gateway (make race) reports here.
		if strings.Contains(g.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("the gateway reported a data race:\n%s", g.logs)
		}
	})
	return g
}

func renderConfig(t testing.TB, caddyfile string, vars gatewayVars) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := testproc.WriteConfig(path, caddyfile, vars); err != nil {
		t.Fatal(err)
	}
	return path
}

// Start runs the gateway and waits until its site answers.
func (g *gateway) Start() {
	g.t.Helper()
	p, err := testproc.StartCaddy(caddyBin, g.config, g.DataDir, g.HTTP, g.extraEnv, g.logs)
	if err != nil {
		g.t.Fatal(err)
	}
	g.proc, g.cmd = p, p.Cmd
}

// Kill ends the process with SIGKILL: nothing is flushed or handed over.
func (g *gateway) Kill() {
	if g.proc != nil {
		g.proc.Kill()
	}
}

// Stop ends the process gracefully.
func (g *gateway) Stop() {
	if g.proc != nil {
		g.proc.Stop(30 * time.Second)
	}
}

// Reload loads a new Caddyfile through the admin API, as `caddy reload` does.
func (g *gateway) Reload(caddyfile string, vars gatewayVars) {
	g.t.Helper()
	if status, answer := g.load(caddyfile, vars); status != http.StatusOK {
		g.t.Fatalf("reload: %d %s", status, answer)
	}
}

// load posts a Caddyfile to the admin API's /load and returns the answer.
func (g *gateway) load(caddyfile string, vars gatewayVars) (int, []byte) {
	g.t.Helper()
	vars.HTTP, vars.Admin, vars.DataDir = g.HTTP, g.Admin, g.DataDir
	cfg, err := os.ReadFile(renderConfig(g.t, caddyfile, vars))
	if err != nil {
		g.t.Fatal(err)
	}
	// Caddy replaces its admin listener on every load, so the previous
	// reload's may not be listening yet: a refused connection is retried.
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, g.AdminURL("/load"), bytes.NewReader(cfg))
		req.Header.Set("Content-Type", "text/caddyfile")
		req.Header.Set("Cache-Control", "must-revalidate") // load even if unchanged
		resp, err = httpClient.Do(req)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (g *gateway) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", g.HTTP, path) }
func (g *gateway) AdminURL(path string) string {
	return fmt.Sprintf("http://localhost:%d%s", g.Admin, path)
}

// AdminJSON calls an admin path and decodes its JSON 2xx answer into out.
func (g *gateway) AdminJSON(method, path string, body any, out any) int {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.AdminURL(path), rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// backend is an internal service that records what reaches it.
type backend struct {
	*testproc.Sink

	mu       sync.Mutex
	seen     int
	requests []recorded // in the order their answers were decided
	// status decides the answer to the n-th request (1-based); nil = 200.
	status func(n int, r recorded) int
}

type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	Status int // what the backend answered
}

func newBackend(t testing.TB) *backend {
	t.Helper()
	b := &backend{}
	sink, err := testproc.StartSink(http.HandlerFunc(b.serve))
	if err != nil {
		t.Fatal(err)
	}
	b.Sink = sink
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	b.mu.Lock()
	b.seen++
	n := b.seen
	status := b.status
	b.mu.Unlock()
	rec.Status = http.StatusOK
	if status != nil {
		rec.Status = status(n, rec)
	}
	b.mu.Lock()
	b.requests = append(b.requests, rec)
	b.mu.Unlock()
	w.WriteHeader(rec.Status)
	code := rec.Status
	_, _ = w.Write([]byte("backend says " + http.StatusText(code)))
}

func (b *backend) Requests() []recorded {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]recorded(nil), b.requests...)
}

// successes are the requests answered 2xx.
func (b *backend) successes() []recorded {
	var out []recorded
	for _, r := range b.Requests() {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

func (b *backend) SetStatus(f func(n int, r recorded) int) {
	b.mu.Lock()
	b.status = f
	b.mu.Unlock()
}

// post sends a webhook and returns the status and body.
func post(t testing.TB, url string, header map[string]string, body []byte) (int, string, http.Header) {
	t.Helper()
	status, resp, h, err := tryPost(url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, resp, h
}

// tryPost is post for load generators, where a connection error is counted
// rather than fatal.
func tryPost(url string, header map[string]string, body []byte) (int, string, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, nil
}

// npmSign signs with the provider's own npm package (test/npm/signer.mjs).
func npmSign(t testing.TB, provider, secret, id string, ts int64, body []byte) map[string]string {
	t.Helper()
	var out struct{ Headers map[string]string }
	runNode(t, map[string]any{"op": "sign", "provider": provider, "secret": secret,
		"body": string(body), "id": id, "timestamp": ts}, &out)
	return out.Headers
}

// npmVerify checks headers and body with the provider's own npm package.
func npmVerify(t testing.TB, provider, secret string, header http.Header, body []byte) bool {
	t.Helper()
	h := map[string]string{}
	for k := range header {
		h[strings.ToLower(k)] = header.Get(k)
	}
	var out struct{ OK bool }
	runNode(t, map[string]any{"op": "verify", "provider": provider, "secret": secret,
		"body": string(body), "headers": h}, &out)
	return out.OK
}

func runNode(t testing.TB, in any, out any) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules")); err != nil {
		t.Fatalf("test/npm/node_modules is missing: run `make npm` (make test does)")
	}
	b, _ := json.Marshal(in)
	cmd := exec.Command("node", "signer.mjs")
	cmd.Dir = nodeDir
	cmd.Stdin = bytes.NewReader(b)
	res, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node signer: %v: %s", err, stderr)
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("node signer output %q: %v", res, err)
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// logged reports whether every part appears in the gateway's output within a
// few seconds: the output reaches the test through a pipe, so a line can
// arrive after the answer it belongs to.
func (g *gateway) logged(parts ...string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs, all := g.logs.String(), true
		for _, p := range parts {
			all = all && strings.Contains(logs, p)
		}
		if all || time.Now().After(deadline) {
			return all
		}
		time.Sleep(20 * time.Millisecond)
	}
}
