package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chaosLong is set by `make chaos`; `make test` runs the short durations.
var chaosLong = os.Getenv("WHI_CHAOS") == "long"

// chaosScale picks the short or the long (WHI_CHAOS=long) value.
func chaosScale[T any](short, long T) T {
	if chaosLong {
		return long
	}
	return short
}

// chaosConfig forwards /hooks with retries that outlast any outage in these
// tests, and the short `timeout 1s` so that a dead instance's delivery lease
// (timeout + 30s) ends soon. GATEWAY names the instance in X-Gateway; /json
// deduplicates on a JSON field. The event log is on, so that every fault
// also meets its writer.
const chaosConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		retain 1h
		{{if .Redis}}redis {{.Redis}} {
			key_prefix chaos:
		}{{end}}
	}
}
:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret ` + standardSecret + `
			max_body 1MB
		}
		webhook_forward {{.Backend}}/events {
			timeout 1s
			backoff 50ms 1s
			max_attempts 1000
			concurrency 4
			header X-Gateway GATEWAY
		}
	}
	handle /json {
		webhook_verify standard {
			secret ` + standardSecret + `
			dedupe json data.id
		}
		webhook_forward {{.Backend}}/json
	}
}`

func chaosGateway(t *testing.T, name string, vars gatewayVars) *gateway {
	t.Helper()
	return newGateway(t, strings.ReplaceAll(chaosConfig, "GATEWAY", name), vars)
}

// chaosEvent is a unique ~1 KB event, like ingest sends.
func chaosEvent(i int) []byte {
	return []byte(fmt.Sprintf(`{"type":"render.done","render":%d,"pad":"%s"}`, i, strings.Repeat("x", 900)))
}

// result is one request of a flood.
type result struct {
	start, end time.Time
	id         string
	status     int    // 0 on a connection error
	reason     string // the JSON error code, "accepted", or the transport error
	retryAfter string
}

// flood sends unique signed events from several senders until stopped, like
// providers that keep sending during an incident.
type flood struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []result
}

func startFlood(t *testing.T, url, prefix string, senders int) *flood {
	f := &flood{stop: make(chan struct{})}
	var next atomic.Int64
	for range senders {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				select {
				case <-f.stop:
					return
				default:
				}
				i := int(next.Add(1))
				id := fmt.Sprintf("%s_%d", prefix, i)
				body := chaosEvent(i)
				r := result{start: time.Now(), id: id}
				status, resp, h, err := tryPost(url, signedStandard(t, id, time.Now(), body), body)
				r.end, r.status = time.Now(), status
				switch {
				case err != nil:
					r.reason = err.Error()
				case status == http.StatusAccepted:
					r.reason = "accepted"
				default:
					var e struct{ Error string }
					_ = json.Unmarshal([]byte(resp), &e)
					r.reason, r.retryAfter = e.Error, h.Get("Retry-After")
				}
				f.mu.Lock()
				f.results = append(f.results, r)
				f.mu.Unlock()
			}
		}()
	}
	return f
}

// Stop ends the flood and returns every request's result.
func (f *flood) Stop() []result {
	close(f.stop)
	f.wg.Wait()
	return f.results
}

func (f *flood) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.results {
		if r.status == http.StatusAccepted {
			n++
		}
	}
	return n
}

// awaitAccepted waits until n more of f's events have been accepted: a
// fault lands on ingest under way however fast this machine is.
func (f *flood) awaitAccepted(t *testing.T, n int) {
	t.Helper()
	from := f.accepted()
	eventually(t, 30*time.Second, fmt.Sprintf("%d more events accepted", n), func() bool { return f.accepted() >= from+n })
}

// countsOf turns flood results into ingestCounts, and the answers into a
// histogram for the report.
func countsOf(results []result) (ingestCounts, map[string]int) {
	var c ingestCounts
	answers := map[string]int{}
	for _, r := range results {
		c.sent++
		if r.status == http.StatusAccepted {
			c.accepted++
			c.acceptedIDs = append(c.acceptedIDs, r.id)
		} else {
			c.refused++
		}
		key := strconv.Itoa(r.status) + " " + r.reason
		if r.status == 0 {
			key = "connection error"
		}
		answers[key]++
	}
	return c, answers
}

// deliveryReport is what a chaos scenario prints.
type deliveryReport struct {
	sent, accepted, delivered, lost, twice int
}

// awaitDelivery waits until every accepted event reached path with a 2xx
// and g's queue for it is empty (nothing queued, leased or retrying, so no
// redelivery can follow), prints sent / accepted / delivered / lost /
// delivered twice, and fails on any loss or dead letter.
func awaitDelivery(t *testing.T, g *gateway, be *backend, path string, c ingestCounts, timeout time.Duration) deliveryReport {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var lost []string
	for {
		got := deliveredIDs(be, path)
		lost = lost[:0]
		for _, id := range c.acceptedIDs {
			if got[id] == 0 {
				lost = append(lost, id)
			}
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	allDelivered := time.Since(start)
	var q queueStats
	for len(lost) == 0 {
		q = g.queue(be.URL + path)
		if q.Queued+q.InFlight+q.Retrying == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep := deliveryReport{sent: c.sent, accepted: c.accepted, delivered: c.accepted - len(lost), lost: len(lost)}
	for _, n := range deliveredIDs(be, path) {
		if n > 1 {
			rep.twice++
		}
	}
	t.Logf("CHAOS %s: sent %d, accepted %d, delivered %d, lost %d, delivered twice %d (all delivered after %s, queue empty after %s)",
		t.Name(), rep.sent, rep.accepted, rep.delivered, rep.lost, rep.twice,
		allDelivered.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	if rep.lost > 0 {
		t.Fatalf("%d accepted events were never delivered within %s, e.g. %v; queue %+v; gateway warnings:\n%s",
			rep.lost, timeout, lost[:min(5, len(lost))], g.queue(be.URL+path), problems(g.logs.String()))
	}
	if q.Queued+q.InFlight+q.Retrying != 0 {
		t.Errorf("every event was delivered, yet %s later the queue still holds entries: %+v", timeout, q)
	}
	if q.Dead != 0 {
		t.Errorf("%d dead letters: %+v", q.Dead, q)
	}
	return rep
}

// problems picks the gateway's warnings and errors out of its log.
func problems(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out[:min(10, len(out))], "\n")
}

// deliveredIDs counts the 2xx deliveries to path by event id.
func deliveredIDs(be *backend, path string) map[string]int {
	got := map[string]int{}
	for _, r := range be.successes() {
		if r.Path == path {
			got[r.Header.Get("Webhook-Id")]++
		}
	}
	return got
}

// settled reports whether g's queue for destination holds nothing queued,
// leased or retrying: every delivery so far is acknowledged and none can
// follow.
func (g *gateway) settled(destination string) bool {
	q := g.queue(destination)
	return q.Queued+q.InFlight+q.Retrying == 0
}

// queueStats is the admin API's view of one destination.
type queueStats struct {
	Destination string
	Queued      int64
	InFlight    int64 `json:"in_flight"`
	Retrying    int64
	Dead        int64
}

func (g *gateway) queue(destination string) queueStats {
	g.t.Helper()
	var all []queueStats
	g.AdminJSON(http.MethodGet, "/webhook_ingress/queues", nil, &all)
	for _, q := range all {
		if q.Destination == destination {
			return q
		}
	}
	return queueStats{Destination: destination}
}

// vmRSS is a process's resident set in bytes, from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// rssPeak samples a process's RSS until stopped and returns the highest.
func rssPeak(pid int) (stop func() int64) {
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var highest int64
		for {
			if rss, err := vmRSS(pid); err == nil {
				highest = max(highest, rss)
			}
			select {
			case <-done:
				peak <- highest
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); return <-peak }
}

// generator yields n bytes of JSON-ish filler without holding them.
type generator struct{ left int64 }

func (g *generator) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), g.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	g.left -= n
	return int(n), nil
}

// rawUpload sends a POST over a bare connection while streaming size bytes
// from a generator, and reads the answer concurrently, as a client that does
// not stop sending would. written is how much had been sent when the answer
// came. chunked omits Content-Length.
func rawUpload(t testing.TB, addr, path string, header map[string]string, size int64, chunked bool) (status int, body string, written int64) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", path, addr)
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", size)
	}
	for k, v := range header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	var sent atomic.Int64
	go func() {
		if _, err := io.WriteString(conn, head.String()); err != nil {
			return
		}
		var w io.Writer = conn
		if chunked {
			w = &chunkWriter{conn}
		}
		buf := make([]byte, 64<<10)
		src := &generator{left: size}
		for {
			n, _ := src.Read(buf)
			if n == 0 {
				break
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			sent.Add(int64(n))
		}
		if chunked {
			_, _ = io.WriteString(conn, "0\r\n\r\n")
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the upload after %d bytes: %v", sent.Load(), err)
	}
	written = sent.Load()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(string(b)), written
}

// chunkWriter frames each write as one HTTP/1.1 chunk.
type chunkWriter struct{ w io.Writer }

func (c *chunkWriter) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(c.w, "%x\r\n", len(p)); err != nil {
		return 0, err
	}
	if _, err := c.w.Write(p); err != nil {
		return 0, err
	}
	_, err := io.WriteString(c.w, "\r\n")
	return len(p), err
}

// restartable is a backend whose listener can be closed and reopened on the
// same address: the internal service going away entirely.
type restartable struct {
	*backend
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newRestartableBackend(t *testing.T) *restartable {
	b := newBackend(t)
	r := &restartable{backend: b, addr: strings.TrimPrefix(b.URL, "http://"), srv: b.Server}
	t.Cleanup(func() { r.Down() })
	return r
}

// Down closes the listener and every connection.
func (r *restartable) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.srv.Close()
}

// Up listens again on the same address.
func (r *restartable) Up(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatalf("reopening the backend on %s: %v", r.addr, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv = &http.Server{Handler: http.HandlerFunc(r.backend.serve)}
	go func(s *http.Server) { _ = s.Serve(l) }(r.srv)
}
