package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const internalSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

// forwardConfig answers 202 once an event is queued and delivers it to the
// backend in the background. {{.Redis}} empty means the embedded store.
const forwardConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	{{if .Redis}}webhook_ingress {
		redis {{.Redis}} {
			key_prefix fwd:
		}
	}{{end}}
}
:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/events {
			timeout 2s
			backoff 50ms 200ms
			max_attempts 30
			concurrency 4
			header X-Internal yes
			sign standard ` + internalSecret + `
		}
	}
	handle /fanout {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/a {{.Backend}}/b {
			backoff 50ms 100ms
		}
	}
	handle /raw {
		webhook_forward {{.Backend}}/raw {
			backoff 10ms 20ms
		}
	}
	handle /doomed {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/doomed {
			max_attempts 2
			backoff 10ms 20ms
		}
	}
}`

type ingestCounts struct {
	sent, accepted, refused int
	acceptedIDs             []string
}

// ingest sends n unique events from 8 senders and records which were
// accepted (202).
func ingest(t *testing.T, g *gateway, path, prefix string, n int) ingestCounts {
	t.Helper()
	var mu sync.Mutex
	var c ingestCounts
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				id := fmt.Sprintf("%s_%d", prefix, i)
				body := []byte(fmt.Sprintf(`{"type":"render.done","render":%d,"pad":"%s"}`, i, strings.Repeat("x", 900)))
				status, _, _, err := tryPost(g.URL(path), signedStandard(t, id, time.Now(), body), body)
				mu.Lock()
				c.sent++
				if err == nil && status == http.StatusAccepted {
					c.accepted++
					c.acceptedIDs = append(c.acceptedIDs, id)
				} else {
					c.refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return c
}

// checkAllDelivered waits until every accepted id was answered 2xx at path,
// then reports lost and duplicated events.
func checkAllDelivered(t *testing.T, be *backend, path string, c ingestCounts, timeout time.Duration) {
	t.Helper()
	ok := func() map[string]int {
		out := map[string]int{}
		for _, r := range be.successes() {
			if r.Path == path {
				out[r.Header.Get("Webhook-Id")]++
			}
		}
		return out
	}
	deadline := time.Now().Add(timeout)
	var got map[string]int
	for {
		got = ok()
		missing := 0
		for _, id := range c.acceptedIDs {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %d, accepted %d: %d accepted events never delivered", c.sent, c.accepted, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	twice := 0
	for _, n := range got {
		if n > 1 {
			twice++
		}
	}
	t.Logf("sent %d, accepted %d, delivered %d, lost 0, delivered twice %d", c.sent, c.accepted, len(got), twice)
}

func TestForwardRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	for _, redis := range []bool{false, true} {
		name := storeName(redis)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			be := newBackend(t)
			vars := chaosVars(t, be, redis)
			// The internal service fails its first 40 requests.
			be.SetStatus(func(n int, _ recorded) int {
				if n <= 40 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			g := newGateway(t, forwardConfig, vars)
			g.Start()
			c := ingest(t, g, "/hooks", "msg_retry_"+name, 200)
			if c.accepted != c.sent {
				t.Fatalf("%d of %d refused while the destination failed", c.refused, c.sent)
			}
			checkAllDelivered(t, be, "/events", c, 60*time.Second)

			// Every delivery is re-signed for the internal service, and the
			// Standard Webhooks SDK accepts it.
			r := be.successes()[0]
			if !npmVerify(t, "standard", internalSecret, r.Header, r.Body) {
				t.Errorf("standardwebhooks rejects the re-signed delivery: %v", r.Header)
			}
			if r.Header.Get("Webhook-Id") == "" || r.Header.Get("Webhook-Provider") != "standard" ||
				r.Header.Get("Webhook-Attempt") == "" || r.Header.Get("X-Internal") != "yes" ||
				r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("delivery headers: %v", r.Header)
			}
		})
	}
}

func TestForwardAnswers202AndDeduplicates(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, forwardConfig, gatewayVars{Backend: be.URL})
	g.Start()
	body := []byte(`{"type":"render.done","id":"r1"}`)
	status, resp, _ := post(t, g.URL("/hooks"), signedStandard(t, "msg_once", time.Now(), body), body)
	if status != http.StatusAccepted || resp != `{"id":"msg_once","status":"accepted"}`+"\n" {
		t.Fatalf("got %d %q, want 202 accepted", status, resp)
	}
	status, resp, _ = post(t, g.URL("/hooks"), signedStandard(t, "msg_once", time.Now().Add(time.Second), body), body)
	if status != http.StatusOK || !strings.Contains(resp, "duplicate") {
		t.Fatalf("provider retry: %d %s, want 200 duplicate", status, resp)
	}
	eventually(t, 10*time.Second, "the delivery", func() bool { return len(be.successes()) == 1 })
	eventually(t, 10*time.Second, "the queue to settle", func() bool { return g.settled(be.URL + "/events") })
	if n := len(be.Requests()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	if got := be.Requests()[0]; !bytes.Equal(got.Body, body) || got.Header.Get("Webhook-Attempt") != "1" {
		t.Errorf("delivery: attempt %q body %q", got.Header.Get("Webhook-Attempt"), got.Body)
	}
}

func TestForwardFanOut(t *testing.T) {
	be := newBackend(t)
	// /b is down for a while; /a must not wait for it.
	var bUp atomic.Bool
	be.SetStatus(func(_ int, r recorded) int {
		if r.Path == "/b" && !bUp.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	g := newGateway(t, forwardConfig, gatewayVars{Backend: be.URL})
	g.Start()
	c := ingest(t, g, "/fanout", "msg_fan", 30)
	checkAllDelivered(t, be, "/a", c, 30*time.Second)
	bUp.Store(true)
	checkAllDelivered(t, be, "/b", c, 30*time.Second)
}

// SIGKILL the gateway while it ingests and delivers; every accepted event
// is delivered after the restart.
func TestForwardSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	for _, redis := range []bool{false, true} {
		name := storeName(redis)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			be := newBackend(t)
			vars := chaosVars(t, be, redis)
			// A slow destination keeps a backlog queued at the kill.
			be.SetStatus(func(int, recorded) int { time.Sleep(5 * time.Millisecond); return http.StatusOK })
			g := newGateway(t, forwardConfig, vars)
			g.Start()
			var c ingestCounts
			done := make(chan struct{})
			go func() {
				c = ingest(t, g, "/hooks", "msg_kill_"+name, 3000)
				close(done)
			}()
			eventually(t, 30*time.Second, "deliveries under way", func() bool { return len(be.Requests()) >= 20 })
			g.Kill()
			<-done
			if c.accepted == 0 || c.refused == 0 {
				t.Logf("the kill landed at the edge of ingest: accepted %d, refused %d", c.accepted, c.refused)
			}
			g.Start()
			// Entries leased by the killed process come back after their lease
			// (timeout 2s + margin).
			checkAllDelivered(t, be, "/events", c, 90*time.Second)
		})
	}
}

func TestAdminDeadLettersAndRedrive(t *testing.T) {
	be := newBackend(t)
	var up atomic.Bool
	be.SetStatus(func(_ int, r recorded) int {
		if r.Path == "/doomed" && !up.Load() {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	g := newGateway(t, forwardConfig, gatewayVars{Backend: be.URL})
	g.Start()
	for i := 0; i < 3; i++ {
		body := []byte(fmt.Sprintf(`{"n":%d}`, i))
		if status, _, _ := post(t, g.URL("/doomed"), signedStandard(t, fmt.Sprintf("msg_dead_%d", i), time.Now(), body), body); status != 202 {
			t.Fatalf("status %d", status)
		}
	}
	doomed := be.URL + "/doomed"
	for _, bad := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/webhook_ingress/dead?limit=0", nil, http.StatusBadRequest},
		{"GET", "/webhook_ingress/dead?destination=http://nowhere/", nil, http.StatusNotFound},
		{"DELETE", "/webhook_ingress/dead/no_such_event?destination=" + doomed, nil, http.StatusNotFound},
		{"POST", "/webhook_ingress/dead/redrive", "not an object", http.StatusBadRequest},
		{"PUT", "/webhook_ingress/queues", nil, http.StatusMethodNotAllowed},
		{"GET", "/webhook_ingress/elsewhere", nil, http.StatusNotFound},
	} {
		if code := g.AdminJSON(bad.method, bad.path, bad.body, nil); code != bad.want {
			t.Errorf("%s %s: %d, want %d", bad.method, bad.path, code, bad.want)
		}
	}
	var dead []struct {
		ID, Destination, Provider string
		LastError                 string `json:"last_error"`
		Attempts                  int
	}
	eventually(t, 10*time.Second, "three dead letters", func() bool {
		dead = nil
		g.AdminJSON("GET", "/webhook_ingress/dead?destination="+doomed, nil, &dead)
		return len(dead) == 3
	})
	if dead[0].Attempts != 2 || !strings.Contains(dead[0].LastError, "400") || dead[0].Provider != "standard" {
		t.Errorf("dead letter: %+v", dead[0])
	}
	var queues []map[string]any
	g.AdminJSON("GET", "/webhook_ingress/queues", nil, &queues)
	found := false
	for _, q := range queues {
		if q["destination"] == doomed {
			found = true
			if q["dead"].(float64) != 3 {
				t.Errorf("queue stats: %v", q)
			}
		}
	}
	if !found {
		t.Fatalf("no queue for %s in %v", doomed, queues)
	}

	if code := g.AdminJSON("DELETE", "/webhook_ingress/dead/msg_dead_0?destination="+doomed, nil, nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	up.Store(true)
	var redriven map[string]int
	g.AdminJSON("POST", "/webhook_ingress/dead/redrive", map[string]any{"destination": doomed}, &redriven)
	if redriven["redriven"] != 2 {
		t.Fatalf("redrive: %v", redriven)
	}
	eventually(t, 10*time.Second, "redriven events delivered", func() bool {
		n := 0
		for _, r := range be.successes() {
			if r.Path == "/doomed" {
				n++
			}
		}
		return n == 2
	})
}

// webhook_forward without webhook_verify in front queues the body as it came,
// with the body's SHA-256 as the event id.
func TestForwardWithoutVerify(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, forwardConfig, gatewayVars{Backend: be.URL})
	g.Start()
	body := []byte(`{"unsigned":true}`)
	status, resp, _ := post(t, g.URL("/raw"), nil, body)
	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:])
	if status != http.StatusAccepted || !strings.Contains(resp, id) {
		t.Fatalf("got %d %s, want 202 with id %s", status, resp, id)
	}
	eventually(t, 10*time.Second, "the delivery", func() bool { return len(be.successes()) == 1 })
	if got := be.successes()[0]; !bytes.Equal(got.Body, body) || got.Header.Get("Webhook-Id") != id {
		t.Errorf("delivery: id %q body %q", got.Header.Get("Webhook-Id"), got.Body)
	}
	req, _ := http.NewRequest(http.MethodGet, g.URL("/raw"), nil)
	resp2, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp2.StatusCode)
	}
}
