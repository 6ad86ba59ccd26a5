package test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// handoffConfig has an asynchronous and a synchronous route of one
// provider sharing one scope, so that they share their claims.
const handoffConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		redis {{.Redis}} {
			key_prefix handoff:
		}
	}
}
:{{.HTTP}} {
	handle /async {
		webhook_verify standard {
			secret ` + standardSecret + `
			scope handoff
		}
		webhook_forward {{.Backend}}/events {
			backoff 10ms 20ms
		}
	}
	handle /sync {
		webhook_verify standard {
			secret ` + standardSecret + `
			scope handoff
		}
		reverse_proxy {{.Backend}}
	}
}`

// With Redis, webhook_verify leaves its claim to the webhook_forward after
// it: one store call per request, and the sender sees the same answers as
// with the claim taken first.
func TestForwardTakesOverTheClaim(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	hold, arrived := make(chan struct{}), make(chan struct{}, 1)
	be.SetStatus(func(_ int, r recorded) int {
		if r.Path == "/sync" {
			arrived <- struct{}{}
			<-hold
		}
		return http.StatusOK
	})
	g := newGateway(t, handoffConfig, gatewayVars{Backend: be.URL, Redis: redis.URL()})
	g.Start()

	body := []byte(`{"type":"render.done","id":"r1"}`)
	first := signedStandard(t, "msg_handoff", time.Now(), body)
	answers := []struct {
		name       string
		header     map[string]string
		status     int
		body       string
		retryAfter bool
	}{
		{"first", first, http.StatusAccepted, `{"id":"msg_handoff","status":"accepted"}`, false},
		{"replay", first, http.StatusConflict, `{"error":"replayed"}`, false},
		{"provider retry", signedStandard(t, "msg_handoff", time.Now().Add(time.Second), body), http.StatusOK,
			`{"id":"msg_handoff","status":"duplicate"}`, false},
	}
	for _, a := range answers {
		status, resp, h := post(t, g.URL("/async"), a.header, body)
		if status != a.status || resp != a.body+"\n" || (h.Get("Retry-After") != "") != a.retryAfter {
			t.Fatalf("%s: %d %q (Retry-After %q), want %d %s", a.name, status, resp, h.Get("Retry-After"), a.status, a.body)
		}
	}

	// A synchronous request holds a key in flight: the asynchronous route
	// is told so, and takes nothing.
	body2 := []byte(`{"type":"render.done","id":"r2"}`)
	done := make(chan int)
	go func() {
		status, _, _ := post(t, g.URL("/sync"), signedStandard(t, "msg_held", time.Now(), body2), body2)
		done <- status
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request never reached the backend")
	}
	retry := signedStandard(t, "msg_held", time.Now().Add(time.Second), body2)
	status, resp, h := post(t, g.URL("/async"), retry, body2)
	if status != http.StatusConflict || resp != `{"error":"in_progress"}`+"\n" || h.Get("Retry-After") == "" {
		t.Fatalf("key in flight: %d %q (Retry-After %q), want 409 in_progress", status, resp, h.Get("Retry-After"))
	}
	close(hold)
	if status := <-done; status != http.StatusOK {
		t.Fatalf("held request: %d", status)
	}

	// Redis down: 503 and nothing held, so the sender's retry goes through
	// once Redis is back.
	redis.Stop()
	body3 := []byte(`{"type":"render.done","id":"r3"}`)
	status, resp, h = post(t, g.URL("/async"), signedStandard(t, "msg_down", time.Now(), body3), body3)
	if status != http.StatusServiceUnavailable || !strings.Contains(resp, "store_unavailable") || h.Get("Retry-After") == "" {
		t.Fatalf("Redis down: %d %q (Retry-After %q), want 503 store_unavailable", status, resp, h.Get("Retry-After"))
	}
	redis.Start()
	eventually(t, 15*time.Second, "the retry to be accepted once Redis is back", func() bool {
		status, _, _ := post(t, g.URL("/async"), signedStandard(t, "msg_down", time.Now(), body3), body3)
		return status == http.StatusAccepted
	})

	eventually(t, 10*time.Second, "the deliveries", func() bool { return len(deliveredIDs(be, "/events")) == 2 })
	eventually(t, 10*time.Second, "the queue to settle", func() bool { return g.settled(be.URL + "/events") })
	if delivered := deliveredIDs(be, "/events"); delivered["msg_handoff"] != 1 || delivered["msg_down"] != 1 || len(delivered) != 2 {
		t.Fatalf("delivered %v, want msg_handoff and msg_down once each", delivered)
	}

	// The asynchronous route made no claim of its own: one store call each.
	m := g.metrics()
	if n := metricValue(m, "caddy_webhook_store_duration_seconds_count", `op="claim"`); n != 1 {
		t.Errorf("%v claim calls, want 1 (the synchronous request's)", n)
	}
	for outcome, want := range map[string]float64{
		"accepted": 2, "replayed": 1, "duplicate": 1, "in_progress": 1, "store_unavailable": 1, "passed": 0,
	} {
		if got := metricValue(m, "caddy_webhook_requests_total", `route="/async"`, `outcome="`+outcome+`"`); got != want {
			t.Errorf("requests_total{route=/async,outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}
