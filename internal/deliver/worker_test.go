package deliver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

func testDestination(url string) Destination {
	return Destination{
		URL:         url,
		Timeout:     5 * time.Second,
		MaxAttempts: 5,
		MaxAge:      time.Hour,
		BackoffMin:  time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
		Concurrency: 4,
		Rate:        rate.Inf,
	}
}

func testEvent(id string) store.Event {
	return store.Event{
		ID:         id,
		Provider:   "github",
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       []byte(`{"id":"` + id + `"}`),
		ReceivedAt: time.Now(),
	}
}

// harness runs one worker in the background and records what it reports.
type harness struct {
	q    *fakeQueue
	w    *Worker
	logs *observer.ObservedLogs

	mu       sync.Mutex
	outcomes []Outcome

	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t *testing.T, q *fakeQueue, d Destination) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{q: q, logs: logs, done: make(chan struct{})}
	h.w = NewWorker(q, d, "test-consumer", nil, zap.New(core), func(o Outcome) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.outcomes = append(h.outcomes, o)
	})
	return h
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		h.w.Run(ctx)
	}()
	t.Cleanup(h.stop)
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func (h *harness) results() []Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.outcomes)
}

func (h *harness) count(result string) int {
	n := 0
	for _, o := range h.results() {
		if o.Result == result {
			n++
		}
	}
	return n
}

// eventually polls cond for up to 10 s: long enough for any machine, and no
// assertion on how fast it happens.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverSendsBodyAndHeaders(t *testing.T) {
	body := []byte("{\"a\": 1,\n \"bin\": \"\xff\x00\xfe\"}\r\n")
	type seen struct {
		method, host, body string
		contentLength      int64
		header             http.Header
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Host, string(b), r.ContentLength, r.Header.Clone()}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	q := newFakeQueue()
	ev := testEvent("evt_1")
	ev.Body = body
	ev.Header = http.Header{
		"Content-Type":   {"application/json; charset=utf-8"},
		"X-Github-Event": {"push"},
		"X-Multi":        {"a", "b"},
		"x-lowercase":    {"kept"},
		"Host":           {"sender.example"},
		"Webhook-Id":     {"spoofed"},
	}
	q.add(srv.URL, ev)
	d := testDestination(srv.URL)
	d.Header = http.Header{"X-Route": {"billing"}, "x-github-event": {"overridden"}}
	h := newHarness(t, q, d)
	h.start(t)

	r := <-got
	eventually(t, "the ack", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == 1 })
	h.stop()

	if r.method != http.MethodPost || r.body != string(body) || r.contentLength != int64(len(body)) {
		t.Errorf("got %s, %d bytes declared, body %q; want POST of %q", r.method, r.contentLength, r.body, body)
	}
	if want := strings.TrimPrefix(srv.URL, "http://"); r.host != want {
		t.Errorf("Host = %q, want %q", r.host, want)
	}
	for name, want := range map[string][]string{
		"Content-Type":     {"application/json; charset=utf-8"},
		"X-Multi":          {"a", "b"},
		"X-Lowercase":      {"kept"},
		"X-Github-Event":   {"overridden"},
		"X-Route":          {"billing"},
		"Webhook-Id":       {"evt_1"},
		"Webhook-Provider": {"github"},
		"Webhook-Attempt":  {"1"},
	} {
		if got := r.header.Values(name); !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if sig := r.header.Get("Webhook-Signature"); sig != "" {
		t.Errorf("unsigned destination sent Webhook-Signature %q", sig)
	}

	out := h.results()
	if len(out) != 1 {
		t.Fatalf("outcomes = %+v, want one", out)
	}
	if o := out[0]; o.Result != ResultDelivered || o.Status != 204 || o.Attempt != 1 || o.Err != "" ||
		o.EventID != "evt_1" || o.Provider != "github" || o.Destination != srv.URL {
		t.Errorf("outcome = %+v", o)
	}
	lines := h.logs.FilterMessage("delivered").All()
	if len(lines) != 1 || lines[0].Level != zap.InfoLevel {
		t.Fatalf("want one info line per delivered event, got %+v", h.logs.All())
	}
	if s := fmt.Sprint(lines[0].ContextMap()); strings.Contains(s, "bin") {
		t.Errorf("log line carries the body: %s", s)
	}
}

func TestNewRequestDropsHopByHopHeaders(t *testing.T) {
	dropped := http.Header{
		"Connection":          {"keep-alive, X-Conn-Listed"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
		"Proxy-Connection":    {"keep-alive"},
		"Proxy-Anything":      {"x"},
		"Te":                  {"trailers"},
		"Trailer":             {"X-Trailer"},
		"Transfer-Encoding":   {"chunked"},
		"Upgrade":             {"websocket"},
		"Content-Length":      {"999"},
		"Host":                {"sender.example"},
		"X-Conn-Listed":       {"v"},
		"x-conn-listed":       {"v"}, // the queue may keep any case
	}
	ev := testEvent("evt_hop")
	ev.Header = dropped.Clone()
	ev.Header.Set("X-Keep", "yes")
	w := NewWorker(newFakeQueue(), testDestination("http://127.0.0.1:1/"), "c", nil, nil, nil)
	req, err := w.newRequest(context.Background(), store.Delivery{Event: ev, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name := range dropped {
		if v, ok := req.Header[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("%s passed on: %q", name, v)
		}
	}
	if req.Header.Get("X-Keep") != "yes" {
		t.Error("end-to-end header X-Keep dropped")
	}
	if req.ContentLength != int64(len(ev.Body)) {
		t.Errorf("ContentLength = %d, want %d", req.ContentLength, len(ev.Body))
	}
}

func TestFailingDestinationRecovers(t *testing.T) {
	const failures, events = 5, 10
	var requests atomic.Int32
	var mu sync.Mutex
	attempts := map[string][]string{} // event id -> Webhook-Attempt values seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts[r.Header.Get("Webhook-Id")] = append(attempts[r.Header.Get("Webhook-Id")], r.Header.Get("Webhook-Attempt"))
		mu.Unlock()
		switch n := requests.Add(1); {
		case n <= 3:
			w.WriteHeader(http.StatusInternalServerError)
		case n <= failures:
			// A network error: the connection drops without an answer.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()

	q := newFakeQueue()
	for i := range events {
		q.add(srv.URL, testEvent(fmt.Sprintf("evt_%d", i)))
	}
	d := testDestination(srv.URL)
	d.Concurrency = 2
	d.MaxAttempts = 100
	h := newHarness(t, q, d)
	h.start(t)
	eventually(t, "every event delivered", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == events })
	h.stop()

	_, dead, _, _, pending := q.snapshot()
	if len(dead) != 0 || pending != 0 {
		t.Errorf("%d dead, %d pending; want none", len(dead), pending)
	}
	var sawStatus, sawNetwork bool
	for _, o := range h.results() {
		if o.Result == ResultRetry {
			sawStatus = sawStatus || o.Status == 500 && o.Err == "status 500"
			sawNetwork = sawNetwork || o.Status == 0 && o.Err != ""
		}
	}
	if !sawStatus || !sawNetwork {
		t.Errorf("retries after a 500: %v, after a network error: %v; want both", sawStatus, sawNetwork)
	}
	if got := h.count(ResultDelivered); got != events {
		t.Errorf("%d delivered outcomes, want %d", got, events)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, seen := range attempts {
		for i, v := range seen {
			if v != strconv.Itoa(i+1) {
				t.Errorf("%s: Webhook-Attempt values %v, want 1, 2, ...", id, seen)
				break
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name, retryAfter string
		status           int
		minWait, maxWait time.Duration // before the retry
	}{
		{"429 seconds", "120", http.StatusTooManyRequests, 120 * time.Second, 120 * time.Second},
		// HTTP dates have whole seconds.
		{"503 http date", "+90s", http.StatusServiceUnavailable, 89 * time.Second, 90 * time.Second},
		{"capped at BackoffMax", "7200", http.StatusTooManyRequests, time.Hour, time.Hour},
		{"zero waits BackoffMin/10", "0", http.StatusServiceUnavailable, time.Millisecond, time.Millisecond},
		{"ignored on 500", "120", http.StatusInternalServerError, time.Millisecond, 10 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v := c.retryAfter
				if strings.HasPrefix(v, "+") {
					d, _ := time.ParseDuration(v[1:])
					v = time.Now().Add(d).UTC().Format(http.TimeFormat)
				}
				w.Header().Set("Retry-After", v)
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			q := newFakeQueue()
			q.add(srv.URL, testEvent("evt_ra"))
			d := testDestination(srv.URL)
			d.BackoffMin, d.BackoffMax, d.MaxAge = 10*time.Millisecond, time.Hour, 24*time.Hour
			h := newHarness(t, q, d)
			before := time.Now()
			h.start(t)
			var retries []fakeRetry
			eventually(t, "a retry", func() bool { _, _, retries, _, _ = q.snapshot(); return len(retries) == 1 })
			after := time.Now()
			h.stop()

			at := retries[0].at
			if lo, hi := before.Add(c.minWait), after.Add(c.maxWait); at.Before(lo) || at.After(hi) {
				t.Errorf("retry at now+%s, want now+[%s, %s]", at.Sub(before), c.minWait, c.maxWait)
			}
			if r := retries[0].d; r.Attempts != 1 || r.LastError != "status "+strconv.Itoa(c.status) {
				t.Errorf("retried delivery records attempts %d, error %q", r.Attempts, r.LastError)
			}
		})
	}
}

func TestDeadLetters(t *testing.T) {
	cases := []struct {
		name         string
		maxAttempts  int
		receivedAgo  time.Duration // < 0: ReceivedAt unknown (zero)
		maxAge       time.Duration
		wantAttempts int
	}{
		{"max attempts", 3, 0, time.Hour, 3},
		{"max attempts 1", 1, 0, time.Hour, 1},
		{"max age already passed: one attempt", 10, 2 * time.Hour, time.Hour, 1},
		{"max age passes while retrying", 1000, 0, 30 * time.Millisecond, -1},
		{"unknown age: max attempts only", 2, -1, time.Nanosecond, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				http.Error(w, "broken", http.StatusBadGateway)
			}))
			defer srv.Close()
			q := newFakeQueue()
			ev := testEvent("evt_dead")
			ev.ReceivedAt = time.Now().Add(-c.receivedAgo)
			if c.receivedAgo < 0 {
				ev.ReceivedAt = time.Time{}
			}
			q.add(srv.URL, ev)
			d := testDestination(srv.URL)
			d.MaxAttempts, d.MaxAge = c.maxAttempts, c.maxAge
			h := newHarness(t, q, d)
			h.start(t)
			var dead []store.Delivery
			eventually(t, "a dead letter", func() bool { _, dead, _, _, _ = q.snapshot(); return len(dead) == 1 })
			h.stop()

			got := dead[0]
			if c.wantAttempts > 0 && (got.Attempts != c.wantAttempts || int(requests.Load()) != c.wantAttempts) {
				t.Errorf("dead after %d attempts (%d requests), want %d", got.Attempts, requests.Load(), c.wantAttempts)
			}
			if got.Attempts >= 1000 || got.LastError != "status 502" {
				t.Errorf("dead letter records attempts %d, error %q", got.Attempts, got.LastError)
			}
			out := h.results()
			if last := out[len(out)-1]; last.Result != ResultDead || last.Attempt != got.Attempts {
				t.Errorf("last outcome %+v, want dead at attempt %d", last, got.Attempts)
			}
			if n := h.count(ResultRetry); n != got.Attempts-1 {
				t.Errorf("%d retry outcomes before the dead one, want %d", n, got.Attempts-1)
			}
			if lines := h.logs.FilterLevelExact(zap.WarnLevel).All(); len(lines) != 1 {
				t.Errorf("want one warn line per dead letter, got %d", len(lines))
			}
		})
	}
}

func TestConcurrencyNeverExceeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const concurrency, events = 3, 40
		var inFlight, peak, delivered atomic.Int32
		q := newFakeQueue()
		for i := range events {
			q.add(memURL, testEvent(fmt.Sprintf("evt_%d", i)))
		}
		d := testDestination(memURL)
		d.Concurrency = concurrency
		h := newHarness(t, q, d)
		h.w.client = memClient(func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond) // a slow destination: every slot fills
			delivered.Add(1)
		})
		h.start(t)
		eventually(t, "every event delivered", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == events })
		h.stop()
		if p := peak.Load(); p != concurrency {
			t.Errorf("at most %d deliveries in flight, concurrency is %d", p, concurrency)
		}
		if n := delivered.Load(); n != events {
			t.Errorf("%d requests for %d events", n, events)
		}
	})
}

// The bubble's clock makes the count exact: the burst, then one request
// per 1/perSecond.
func TestRateLimitRespected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const perSecond, burst = 20, 2
		const window = 500 * time.Millisecond
		var requests atomic.Int32
		q := newFakeQueue()
		for i := range 200 {
			q.add(memURL, testEvent(fmt.Sprintf("evt_%d", i)))
		}
		d := testDestination(memURL)
		d.Rate, d.Burst, d.Concurrency = perSecond, burst, 8
		h := newHarness(t, q, d)
		h.w.client = memClient(func(http.ResponseWriter, *http.Request) { requests.Add(1) })
		h.start(t)
		time.Sleep(window)
		synctest.Wait()
		n := float64(requests.Load())
		h.stop()
		if want := burst + perSecond*window.Seconds(); n > want || n < want-2 {
			t.Errorf("%v requests in %s, want %v to %v", n, window, want-2, want)
		}
	})
}

func TestCancelLetsInFlightDeliveryFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		q := newFakeQueue()
		q.add(memURL, testEvent("evt_inflight"))
		q.add(memURL, testEvent("evt_waiting"))
		d := testDestination(memURL)
		d.Concurrency = 1
		h := newHarness(t, q, d)
		h.w.client = memClient(func(http.ResponseWriter, *http.Request) {
			close(arrived)
			<-release
		})
		h.start(t)
		<-arrived
		h.cancel()
		synctest.Wait() // Run has gone as far as it goes with the delivery in flight
		select {
		case <-h.done:
			t.Fatal("Run returned while a delivery was in flight")
		default:
		}
		_, _, _, fetches, _ := q.snapshot()
		close(release)
		<-h.done

		acked, _, _, fetchesAfter, pending := q.snapshot()
		if len(acked) != 1 || acked[0].ID != "evt_inflight" {
			t.Errorf("acked %+v, want the in-flight event", acked)
		}
		if pending != 1 || fetchesAfter != fetches {
			t.Errorf("after cancel: %d fetches more, %d pending; want no fetch and the second event left queued",
				fetchesAfter-fetches, pending)
		}
	})
}

func TestHungDestinationBoundedByTimeout(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so that the server notices the client leaving
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	q := newFakeQueue()
	q.add(srv.URL, testEvent("evt_hung"))
	d := testDestination(srv.URL)
	d.Timeout, d.MaxAttempts = 100*time.Millisecond, 2
	h := newHarness(t, q, d)
	h.start(t)
	var dead []store.Delivery
	eventually(t, "a dead letter", func() bool { _, dead, _, _, _ = q.snapshot(); return len(dead) == 1 })
	h.stop()
	if want := "no response within 100ms"; dead[0].LastError != want {
		t.Errorf("LastError = %q, want %q", dead[0].LastError, want)
	}
	for _, o := range h.results() {
		if o.Status != 0 {
			t.Errorf("outcome %+v: want status 0 for no response", o)
		}
	}
}

func TestQueueErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var requests atomic.Int32
		q := newFakeQueue()
		q.setFetchErr(fmt.Errorf("%w: connection refused", store.ErrUnavailable))
		h := newHarness(t, q, testDestination(memURL))
		h.w.client = memClient(func(http.ResponseWriter, *http.Request) { requests.Add(1) })
		h.start(t)
		time.Sleep(time.Second)
		synctest.Wait()
		// Backing off from 100 ms, a second holds fetches at 0, 0.1, 0.3 and
		// 0.7 s; a spinning loop would make thousands.
		if _, _, _, fetches, _ := q.snapshot(); fetches != 4 {
			t.Errorf("%d fetches in a second of store outage, want 4", fetches)
		}
		if n := h.logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 1 {
			t.Errorf("%d error lines for one outage, want 1", n)
		}

		q.add(memURL, testEvent("evt_after"))
		q.setFetchErr(nil)
		eventually(t, "delivery after the outage", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == 1 })
		h.stop()
		if requests.Load() != 1 {
			t.Errorf("%d requests, want 1", requests.Load())
		}
		if n := h.logs.FilterMessage("delivery queue available again").Len(); n != 1 {
			t.Errorf("%d recovery lines, want 1", n)
		}
	})
}

func TestNotifyWakesIdleWorker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	q := newFakeQueue()
	q.fetchLog = make(chan struct{}, 1)
	h := newHarness(t, q, testDestination(srv.URL))
	h.w.idleMin, h.w.idleMax = time.Hour, time.Hour // only Notify can wake it
	h.start(t)
	<-q.fetchLog // polled once, found nothing, now idle
	q.add(srv.URL, testEvent("evt_new"))
	h.w.Notify()
	eventually(t, "delivery after Notify", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == 1 })
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	q := newFakeQueue()
	q.add(srv.URL+"/hook", testEvent("evt_redirect"))
	h := newHarness(t, q, testDestination(srv.URL+"/hook"))
	h.start(t)
	eventually(t, "a retry", func() bool { return h.count(ResultRetry) > 0 })
	h.stop()
	if followed.Load() {
		t.Error("the redirect was followed (as a GET, losing the body)")
	}
	if o := h.results()[0]; o.Status != http.StatusFound {
		t.Errorf("outcome %+v, want a retry on status 302", o)
	}
}

// A destination's user and password appear in no outcome (the metric
// label), no error (kept with a dead letter) and no log line.
func TestNetworkErrorDoesNotLeakURLCredentials(t *testing.T) {
	const url = "http://hookuser:s3cret-pass@127.0.0.1:1/hook" // port 1: connection refused
	q := newFakeQueue()
	q.add(url, testEvent("evt_pw"))
	d := testDestination(url)
	d.MaxAttempts = 1
	h := newHarness(t, q, d)
	h.start(t)
	var dead []store.Delivery
	eventually(t, "a dead letter", func() bool { _, dead, _, _, _ = q.snapshot(); return len(dead) == 1 })
	h.stop()
	leaks := func(s string) bool { return strings.Contains(s, "s3cret") || strings.Contains(s, "hookuser") }
	if dead[0].LastError == "" || leaks(dead[0].LastError) {
		t.Errorf("LastError = %q", dead[0].LastError)
	}
	for _, o := range h.results() {
		if o.Destination != "http://xxxxx@127.0.0.1:1/hook" || leaks(o.Err) {
			t.Errorf("outcome: destination %q, error %q", o.Destination, o.Err)
		}
	}
	if len(h.logs.FilterMessage("dead letter: giving up on delivery").All()) != 1 {
		t.Errorf("no dead-letter log line: %+v", h.logs.All())
	}
	for _, line := range h.logs.All() {
		if s := fmt.Sprint(line.Message, line.ContextMap()); leaks(s) {
			t.Errorf("log line leaks the credentials: %s", s)
		}
	}
}

func TestSignedDelivery(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	signer, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan http.Header, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Header.Clone()
		bodies <- b
	}))
	defer srv.Close()
	q := newFakeQueue()
	ev := testEvent("msg_p5jXN8AQM9LWM0D4loKWxJek")
	ev.Header["webhook-signature"] = []string{"v1,c2VuZGVyJ3M="} // the sender's, as the queue may keep it
	ev.Header["Webhook-Timestamp"] = []string{"1"}
	q.add(srv.URL, ev)
	d := testDestination(srv.URL)
	d.SignSecret = secret
	h := newHarness(t, q, d)
	h.start(t)
	header, body := <-got, <-bodies
	eventually(t, "the ack", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == 1 })
	h.stop()

	for _, name := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		if n := len(header.Values(name)); n != 1 {
			t.Errorf("%d %s values, want exactly ours", n, name)
		}
	}
	if id := header.Get("Webhook-Id"); id != ev.ID {
		t.Errorf("webhook-id = %q, want the event id", id)
	}
	ts, err := strconv.ParseInt(header.Get("Webhook-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Fatalf("webhook-timestamp %q is not now", header.Get("Webhook-Timestamp"))
	}
	if want := signer.Sign(ev.ID, time.Unix(ts, 0), body); header.Get("Webhook-Signature") != want {
		t.Errorf("webhook-signature %q does not verify", header.Get("Webhook-Signature"))
	}
	for _, line := range h.logs.All() {
		if s := fmt.Sprint(line.ContextMap()); strings.Contains(s, "MfKQ9r8G") || strings.Contains(s, "v1,") {
			t.Errorf("log line leaks the secret or a signature: %s", s)
		}
	}
}

func TestInvalidDestinationDeliversNothing(t *testing.T) {
	q := newFakeQueue()
	d := testDestination("http://127.0.0.1:1/")
	d.Concurrency = 0
	h := newHarness(t, q, d)
	h.start(t)
	<-h.done // Run returns at once
	if _, _, _, fetches, _ := q.snapshot(); fetches != 0 {
		t.Errorf("%d fetches from an invalid destination", fetches)
	}
	if h.logs.FilterLevelExact(zap.ErrorLevel).Len() != 1 {
		t.Errorf("want one error line, got %+v", h.logs.All())
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*Destination)
		want   string // "" = valid
	}{
		{"valid", func(*Destination) {}, ""},
		{"finite rate", func(d *Destination) { d.Rate, d.Burst = 50, 50 }, ""},
		{"no age limit", func(d *Destination) { d.MaxAge = 0 }, ""},
		{"signing", func(d *Destination) { d.SignSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, ""},
		{"relative URL", func(d *Destination) { d.URL = "/hook" }, "absolute http"},
		{"ftp URL", func(d *Destination) { d.URL = "ftp://host/x" }, "absolute http"},
		{"no timeout", func(d *Destination) { d.Timeout = 0 }, "timeout"},
		{"no attempts", func(d *Destination) { d.MaxAttempts = 0 }, "max_attempts"},
		{"negative age", func(d *Destination) { d.MaxAge = -time.Second }, "max_age"},
		{"backoff min 0", func(d *Destination) { d.BackoffMin = 0 }, "backoff"},
		{"backoff max < min", func(d *Destination) { d.BackoffMax = d.BackoffMin / 2 }, "backoff"},
		{"no concurrency", func(d *Destination) { d.Concurrency = 0 }, "concurrency"},
		{"zero rate", func(d *Destination) { d.Rate = 0 }, "rate"},
		{"rate without burst", func(d *Destination) { d.Rate, d.Burst = 10, 0 }, "burst"},
		{"bad secret", func(d *Destination) { d.SignSecret = "whsec_not base64!" }, "sign standard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := testDestination("https://user:pw@svc.internal:8443/events")
			c.modify(&d)
			err := d.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			case err != nil && (strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "not base64!")):
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
	if err := (Destination{}).Validate(); err == nil || len(strings.Split(err.Error(), "\n")) < 5 {
		t.Errorf("zero Destination: want every problem reported, got %v", err)
	}
}

// While ingest is busy a worker delivers one event at a time; once the
// burst is over it goes back to its full concurrency.
func TestYieldToBusyIngest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const events = 30
		var inFlight, peak atomic.Int32
		var busy atomic.Bool
		busy.Store(true)
		q := newFakeQueue()
		for i := range events {
			q.add(memURL, testEvent(fmt.Sprintf("evt_%d", i)))
		}
		d := testDestination(memURL)
		d.Concurrency = 8
		h := newHarness(t, q, d)
		h.w.client = memClient(func(http.ResponseWriter, *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			if busy.Load() {
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
			}
			time.Sleep(2 * time.Millisecond) // a slow destination
		})
		h.w.YieldTo(busy.Load)
		h.start(t)
		eventually(t, "some events delivered while busy", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) >= 3 })
		if p := peak.Load(); p > 1 {
			t.Errorf("%d deliveries in flight while ingest was busy, want 1", p)
		}
		busy.Store(false)
		eventually(t, "every event delivered after the burst", func() bool { acked, _, _, _, _ := q.snapshot(); return len(acked) == events })
	})
}
