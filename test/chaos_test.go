package test

// Fault injection: every scenario prints sent / accepted / delivered / lost /
// delivered twice and fails if an accepted (202) event is lost. The short
// durations run in `make test`; WHI_CHAOS=long (`make chaos`) runs the full
// ones.

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// reclaimWait covers a dead instance's Redis delivery lease (timeout 1s +
// 5s) and the delivery after it, with room for a slow machine.
const reclaimWait = 90 * time.Second

func chaosVars(t *testing.T, be *backend, redis bool) gatewayVars {
	vars := gatewayVars{Backend: be.URL}
	if redis {
		vars.Redis = redistest.Start(t, redistest.WithAppendOnly()).URL()
	}
	return vars
}

func storeName(redis bool) string { return map[bool]string{false: "embedded", true: "redis"}[redis] }

// runConcurrently runs subtests at the same time regardless of -parallel:
// the Redis scenarios each wait out a 6 s delivery lease, and waiting for
// them one after another would make the short suite longer.
func runConcurrently(t *testing.T, tests map[string]func(*testing.T)) {
	var wg sync.WaitGroup
	for name, fn := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, fn)
		}()
	}
	wg.Wait()
}

// Crashes and a store outage. A process killed with Redis leaves its leased
// entries to their lease (timeout 1s + 5s), and a Redis outage can leave an
// unacknowledged delivery to its lease too, so these scenarios wait that out
// even in the short mode; they run concurrently.
func TestChaosCrashAndRecover(t *testing.T) {
	t.Parallel()
	tests := map[string]func(*testing.T){
		"SIGKILL one of two instances sharing redis": killOneOfTwo,
		"redis stopped during ingest":                redisStoppedDuringIngest,
	}
	for _, redis := range []bool{false, true} {
		tests["SIGKILL during ingest/"+storeName(redis)] = func(t *testing.T) { killDuringIngest(t, redis) }
		tests["SIGKILL during delivery/"+storeName(redis)] = func(t *testing.T) { killDuringDelivery(t, redis) }
	}
	runConcurrently(t, tests)
}

func killDuringIngest(t *testing.T, redis bool) {
	be := newBackend(t)
	be.SetStatus(func(int, recorded) int { time.Sleep(5 * time.Millisecond); return http.StatusOK })
	g := chaosGateway(t, "a", chaosVars(t, be, redis))
	g.Start()
	var all ingestCounts
	for round := range chaosScale(1, 5) {
		f := startFlood(t, g.URL("/hooks"), fmt.Sprintf("kill_ingest_%s_%d", storeName(redis), round), 8)
		f.awaitAccepted(t, chaosScale(200, 1000))
		g.Kill()
		c, answers := countsOf(f.Stop())
		t.Logf("round %d: killed during ingest: %v", round, answers)
		if c.accepted == 0 {
			t.Fatalf("nothing was accepted before the kill:\n%s", g.logs)
		}
		all.sent, all.accepted, all.refused = all.sent+c.sent, all.accepted+c.accepted, all.refused+c.refused
		all.acceptedIDs = append(all.acceptedIDs, c.acceptedIDs...)
		g.Start()
	}
	awaitDelivery(t, g, be, "/events", all, reclaimWait)
}

func killDuringDelivery(t *testing.T, redis bool) {
	be := newBackend(t)
	// A slow destination (4 at a time, 20 ms each) builds a backlog.
	be.SetStatus(func(int, recorded) int { time.Sleep(20 * time.Millisecond); return http.StatusOK })
	g := chaosGateway(t, "a", chaosVars(t, be, redis))
	g.Start()
	c := ingest(t, g, "/hooks", "kill_delivery_"+storeName(redis), chaosScale(1000, 5000))
	if c.refused != 0 {
		t.Fatalf("%d of %d refused with nothing wrong", c.refused, c.sent)
	}
	rounds := chaosScale(1, 4)
	for round := range rounds {
		target := c.accepted * (round + 1) / (rounds + 2)
		eventually(t, 60*time.Second, fmt.Sprintf("%d deliveries", target), func() bool { return len(be.successes()) >= target })
		delivered := len(be.successes())
		g.Kill()
		if delivered >= c.accepted {
			t.Fatalf("the backlog was delivered before the kill; send more")
		}
		t.Logf("round %d: killed with %d of %d delivered", round, delivered, c.accepted)
		g.Start()
	}
	awaitDelivery(t, g, be, "/events", c, reclaimWait)
}

// Two instances share Redis; A is SIGKILLed while deliveries are in flight.
// B reclaims A's pending entries once their lease (timeout 1s + 5s) ends.
func killOneOfTwo(t *testing.T) {
	be := newBackend(t)
	var mu sync.Mutex
	inFlight := map[string]bool{} // instance/event id
	be.SetStatus(func(_ int, r recorded) int {
		key := r.Header.Get("X-Gateway") + "/" + r.Header.Get("Webhook-Id")
		mu.Lock()
		inFlight[key] = true
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		delete(inFlight, key)
		mu.Unlock()
		return http.StatusOK
	})
	vars := chaosVars(t, be, true)
	a, b := chaosGateway(t, "a", vars), chaosGateway(t, "b", vars)
	a.Start()
	b.Start()
	n := chaosScale(300, 800)
	var ca, cb ingestCounts
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ca = ingest(t, a, "/hooks", "shared_a", n/2) }()
	go func() { defer wg.Done(); cb = ingest(t, b, "/hooks", "shared_b", n/2) }()
	wg.Wait()
	c := ingestCounts{sent: ca.sent + cb.sent, accepted: ca.accepted + cb.accepted,
		acceptedIDs: append(ca.acceptedIDs, cb.acceptedIDs...)}
	eventually(t, 60*time.Second, "A delivering", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for key := range inFlight {
			if strings.HasPrefix(key, "a/") {
				return len(be.successes()) >= c.accepted/4
			}
		}
		return false
	})
	a.Kill()
	// What A was still waiting on when it died cannot have been acknowledged.
	mu.Lock()
	var held []string
	for key := range inFlight {
		if id, ok := strings.CutPrefix(key, "a/"); ok {
			held = append(held, id)
		}
	}
	mu.Unlock()
	t.Logf("A killed with %d deliveries in flight, %d of %d delivered", len(held), len(be.successes()), c.accepted)
	awaitDelivery(t, b, be, "/events", c, reclaimWait)
	byB := map[string]bool{}
	for _, r := range be.successes() {
		if r.Header.Get("X-Gateway") == "b" {
			byB[r.Header.Get("Webhook-Id")] = true
		}
	}
	for _, id := range held {
		if !byB[id] {
			t.Errorf("%s, in flight on A at its death, was not redelivered by B", id)
		}
	}
	t.Logf("B reclaimed and delivered the %d entries A held", len(held))
}

// Redis stops during ingest: 503 store_unavailable while it is down, nothing
// accepted is lost, and ingest succeeds again without restarting Caddy.
func redisStoppedDuringIngest(t *testing.T) {
	redis := redistest.Start(t, redistest.WithAppendOnly())
	be := newBackend(t)
	g := chaosGateway(t, "a", gatewayVars{Backend: be.URL, Redis: redis.URL()})
	g.Start()
	f := startFlood(t, g.URL("/hooks"), "redis_down", 4)
	f.awaitAccepted(t, 50)
	redis.Stop()
	down := time.Now()
	time.Sleep(chaosScale(2*time.Second, 10*time.Second))
	up := time.Now()
	redis.Start()
	eventually(t, 30*time.Second, "ingest to succeed after Redis restarted", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, r := range f.results {
			if r.start.After(up) && r.status == http.StatusAccepted {
				return true
			}
		}
		return false
	})
	f.awaitAccepted(t, 50)
	results := f.Stop()

	whileDown := 0
	for _, r := range results {
		if r.start.After(down) && r.end.Before(up) {
			whileDown++
			if r.status != http.StatusServiceUnavailable || r.reason != "store_unavailable" || r.retryAfter == "" {
				t.Errorf("while Redis was down: %d %q (Retry-After %q), want 503 store_unavailable", r.status, r.reason, r.retryAfter)
			}
		}
	}
	if whileDown == 0 {
		t.Error("no request was answered while Redis was down")
	}
	c, answers := countsOf(results)
	t.Logf("answers: %v (%d while Redis was down)", answers, whileDown)
	awaitDelivery(t, g, be, "/events", c, reclaimWait)
}

// The internal service is down (503, or nothing listening) and comes back:
// everything accepted meanwhile is delivered.
func TestChaosInternalServiceDown(t *testing.T) {
	outage := chaosScale(3*time.Second, time.Minute)
	cases := []struct {
		name       string
		down, back func(*testing.T, *restartable)
	}{
		{"503", func(_ *testing.T, r *restartable) {
			r.SetStatus(func(int, recorded) int { return http.StatusServiceUnavailable })
		}, func(_ *testing.T, r *restartable) { r.SetStatus(nil) }},
		{"listener closed", func(_ *testing.T, r *restartable) { r.Down() }, func(t *testing.T, r *restartable) { r.Up(t) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newRestartableBackend(t)
			g := chaosGateway(t, "a", gatewayVars{Backend: be.URL})
			g.Start()
			f := startFlood(t, g.URL("/hooks"), "service_down", 4)
			f.awaitAccepted(t, 50)
			tc.down(t, be)
			time.Sleep(outage)
			tc.back(t, be)
			f.awaitAccepted(t, 50)
			c, answers := countsOf(f.Stop())
			t.Logf("answers: %v; the service answered %d requests in all", answers, len(be.Requests()))
			if c.refused != 0 {
				t.Errorf("%d events refused although only the internal service was down", c.refused)
			}
			// The backlog grows with the ingest rate: allow for delivering
			// at least 500 events a second.
			awaitDelivery(t, g, be.backend, "/events", c, time.Minute+time.Duration(c.accepted/500)*time.Second)
		})
	}
}

// Reloads (same Caddyfile) during ingest: nothing accepted is lost and the
// handover between config generations delivers no event twice.
func TestChaosReloadDuringIngest(t *testing.T) {
	tests := map[string]func(*testing.T){}
	for _, redis := range []bool{false, true} {
		tests[storeName(redis)] = func(t *testing.T) {
			be := newBackend(t)
			be.SetStatus(func(int, recorded) int { time.Sleep(5 * time.Millisecond); return http.StatusOK })
			vars := chaosVars(t, be, redis)
			cfg := strings.ReplaceAll(chaosConfig, "GATEWAY", "a")
			g := newGateway(t, cfg, vars)
			g.Start()
			f := startFlood(t, g.URL("/hooks"), "reload_"+storeName(redis), 4)
			every := chaosScale(200*time.Millisecond, time.Second)
			reloads := 0
			for end := time.Now().Add(chaosScale(2*time.Second, time.Minute)); time.Now().Before(end); reloads++ {
				time.Sleep(every)
				g.Reload(cfg, vars)
			}
			c, answers := countsOf(f.Stop())
			t.Logf("%d reloads; answers: %v", reloads, answers)
			// The destination takes at most 800 deliveries a second (4 at a
			// time, 5 ms each): allow for 400 once ingest stops.
			rep := awaitDelivery(t, g, be, "/events", c, reclaimWait+time.Duration(c.accepted/400)*time.Second)
			// On a loaded machine an attempt can time out (1 s) after the
			// destination answered: the gateway retries it, as at least
			// once allows, with the next Webhook-Attempt. An event
			// delivered twice with one attempt number was handed out twice.
			if again := twiceAtOneAttempt(be, "/events"); again != 0 {
				t.Errorf("%d events delivered twice with the same attempt across reloads, with no crash", again)
			} else if rep.twice != 0 {
				t.Logf("%d events delivered again after an attempt that timed out", rep.twice)
			}
		}
	}
	runConcurrently(t, tests)
}

// twiceAtOneAttempt counts the events that path answered 2xx more than
// once with the same Webhook-Attempt.
func twiceAtOneAttempt(be *backend, path string) int {
	seen := map[[2]string]int{}
	for _, r := range be.successes() {
		if r.Path == path {
			seen[[2]string{r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Attempt")}]++
		}
	}
	n := 0
	for _, c := range seen {
		if c > 1 {
			n++
		}
	}
	return n
}

// Slowloris connections and 1 GB uploads against max_body 1MB: the uploads
// get 413 without being read, memory stays flat, and others are served.
func TestChaosSlowlorisAndHugeBody(t *testing.T) {
	be := newBackend(t)
	g := chaosGateway(t, "a", gatewayVars{Backend: be.URL})
	g.Start()
	addr := fmt.Sprintf("127.0.0.1:%d", g.HTTP)
	warm := ingest(t, g, "/hooks", "warm", 200)
	base, err := vmRSS(g.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	peak := rssPeak(g.cmd.Process.Pid)

	// Slowloris: a valid request head, then the body at 1 byte per second.
	slow := chaosScale(50, 200)
	lasting := chaosScale(4*time.Second, time.Minute)
	var trickling sync.WaitGroup
	var closedByGateway atomic.Int64
	for i := range slow {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slowloris connection %d: %v", i, err)
		}
		defer conn.Close()
		trickling.Add(1)
		go func() {
			defer trickling.Done()
			if _, err := fmt.Fprintf(conn, "POST /hooks HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", addr); err != nil {
				closedByGateway.Add(1)
				return
			}
			for end := time.Now().Add(lasting); time.Now().Before(end); {
				if _, err := conn.Write([]byte("x")); err != nil {
					closedByGateway.Add(1)
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}

	const gigabyte = 1 << 30
	huge := signedStandard(t, "huge", time.Now(), []byte("{}"))
	for i := range chaosScale(2, 20) {
		for _, chunked := range []bool{false, true} {
			status, body, written := rawUpload(t, addr, "/hooks", huge, gigabyte, chunked)
			t.Logf("1 GB upload %d (chunked %v): %d %s after %d MB sent", i, chunked, status, body, written>>20)
			if status != http.StatusRequestEntityTooLarge || body != `{"error":"body_too_large"}` {
				t.Errorf("1 GB upload: %d %s, want 413 body_too_large", status, body)
			}
			// Local socket buffers take a few MB; the gateway reads at most 1 MB.
			if written > 64<<20 {
				t.Errorf("%d MB of the 1 GB upload were sent before the 413: the gateway read it", written>>20)
			}
		}
	}
	served := ingest(t, g, "/hooks", "beside_slowloris", 100)
	if served.refused != 0 {
		t.Errorf("%d of %d requests refused beside slowloris connections and 1 GB uploads", served.refused, served.sent)
	}
	trickling.Wait()
	top := peak()
	t.Logf("VmRSS %d MB before, peak %d MB; %d of %d slowloris connections closed by the gateway within %s",
		base>>20, top>>20, closedByGateway.Load(), slow, lasting)
	if top-base > 50<<20 {
		t.Errorf("gateway RSS grew by %d MB (from %d MB to %d MB)", (top-base)>>20, base>>20, top>>20)
	}
	warm.acceptedIDs = append(warm.acceptedIDs, served.acceptedIDs...)
	warm.sent, warm.accepted = warm.sent+served.sent, warm.accepted+served.accepted
	awaitDelivery(t, g, be, "/events", warm, 30*time.Second)
}

// Bad input is refused with the documented answer, and the gateway keeps
// serving.
func TestChaosBadInput(t *testing.T) {
	be := newBackend(t)
	g := chaosGateway(t, "a", gatewayVars{Backend: be.URL})
	g.Start()
	body := []byte(`{"type":"ok","data":{"id":"evt_1"}}`)
	signed := func(id string, b []byte) map[string]string { return signedStandard(t, id, time.Now(), b) }
	with := func(k, v string) map[string]string {
		h := signed("msg_garbage", body)
		h[k] = v
		return h
	}
	cases := []struct {
		name, path string
		header     map[string]string
		body       []byte
		status     int
		error      string
	}{
		{"malformed JSON", "/json", signed("msg_j1", []byte(`{"data":{"id":`)), []byte(`{"data":{"id":`), 400, "dedup_key_missing"},
		{"not JSON", "/json", signed("msg_j2", []byte(`hello`)), []byte(`hello`), 400, "dedup_key_missing"},
		{"no data.id", "/json", signed("msg_j3", []byte(`{"data":{}}`)), []byte(`{"data":{}}`), 400, "dedup_key_missing"},
		{"data.id an object", "/json", signed("msg_j4", []byte(`{"data":{"id":{}}}`)), []byte(`{"data":{"id":{}}}`), 400, "dedup_key_missing"},
		{"nested 100k deep", "/json", signed("msg_j5", []byte(strings.Repeat("[", 100000))), []byte(strings.Repeat("[", 100000)), 400, "dedup_key_missing"},
		{"garbage signature", "/hooks", with("webhook-signature", "v1,@@@not base64@@@"), body, 401, "invalid_signature"},
		{"unknown version", "/hooks", with("webhook-signature", "v9,abc"), body, 401, "invalid_signature"},
		{"empty signature", "/hooks", with("webhook-signature", "v1,"), body, 401, "invalid_signature"},
		{"a thousand signatures", "/hooks", with("webhook-signature", strings.Repeat("v1,AAAA ", 1000)), body, 401, "invalid_signature"},
		{"garbage timestamp", "/hooks", with("webhook-timestamp", "soon"), body, 401, ""},
		{"huge timestamp", "/hooks", with("webhook-timestamp", "99999999999999999999999"), body, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, resp, _, err := tryPost(g.URL(c.path), c.header, c.body)
			if err != nil {
				t.Fatalf("%v\n%s", err, g.logs)
			}
			if status != c.status || (c.error != "" && strings.TrimSpace(resp) != fmt.Sprintf(`{"error":%q}`, c.error)) {
				t.Errorf("got %d %s, want %d %s", status, resp, c.status, c.error)
			}
		})
	}
	t.Run("oversized headers", func(t *testing.T) {
		h := signed("msg_big_header", body)
		h["X-Junk"] = strings.Repeat("a", 2<<20)
		status, _, _ := rawUpload(t, fmt.Sprintf("127.0.0.1:%d", g.HTTP), "/hooks", h, int64(len(body)), false)
		if status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MB header: %d, want 431", status)
		}
	})

	for i, path := range []string{"/json", "/hooks"} {
		id := fmt.Sprintf("msg_after_bad_%d", i)
		if status, resp, _ := post(t, g.URL(path), signed(id, body), body); status != http.StatusAccepted {
			t.Fatalf("%s after bad input: %d %s", path, status, resp)
		}
		c := ingestCounts{sent: 1, accepted: 1, acceptedIDs: []string{id}}
		awaitDelivery(t, g, be, strings.Replace(path, "/hooks", "/events", 1), c, 10*time.Second)
	}
	if strings.Contains(g.logs.String(), "panic") {
		t.Errorf("the gateway logged a panic:\n%s", g.logs)
	}
}
