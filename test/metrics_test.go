package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

const metricsConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		redis {{.Redis}}
	}
}
:{{.HTTP}} {
	handle /sync {
		webhook_verify standard {
			secret ` + standardSecret + `
			max_body 1KB
		}
		reverse_proxy {{.Backend}}
	}
	handle /async {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/events {
			backoff 10ms 20ms
		}
	}
}`

func (g *gateway) metrics() string {
	g.t.Helper()
	resp, err := httpClient.Get(g.AdminURL("/metrics"))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitCommits waits until the gateway has committed n dedup claims: in sync
// mode the commit follows the answer, and a duplicate sent before it is
// told in_progress.
func (g *gateway) waitCommits(n float64) {
	g.t.Helper()
	eventually(g.t, 10*time.Second, fmt.Sprintf("%v commits", n), func() bool {
		return metricValue(g.metrics(), "caddy_webhook_store_duration_seconds_count", `op="commit"`) >= n
	})
}

// metricValue sums the samples of name whose labels contain every want.
func metricValue(text, name string, want ...string) float64 {
	sum := 0.0
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		ok := true
		for _, w := range want {
			if !strings.Contains(m[1], w) {
				ok = false
			}
		}
		if ok {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

func TestMetricsAfterRealTraffic(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	vars := gatewayVars{Backend: be.URL, Redis: redis.URL()}
	g := newGateway(t, metricsConfig, vars)
	g.Start()

	body := []byte(`{"n":1}`)
	signed := signedStandard(t, "msg_m1", time.Now(), body)
	post(t, g.URL("/sync"), signed, body) // passed
	post(t, g.URL("/sync"), signed, body) // replayed
	g.waitCommits(1)
	post(t, g.URL("/sync"), signedStandard(t, "msg_m1", time.Now().Add(time.Second), body), body) // duplicate
	post(t, g.URL("/sync"), signedStandard(t, "msg_m2", time.Now(), body), []byte(`{"n":2}`))     // invalid_signature
	post(t, g.URL("/sync"), signedStandard(t, "msg_m3", time.Now().Add(-time.Hour), body), body)  // stale
	big := bytes.Repeat([]byte("x"), 2048)
	post(t, g.URL("/sync"), signedStandard(t, "msg_m4", time.Now(), big), big)    // too_large
	post(t, g.URL("/async"), signedStandard(t, "msg_m5", time.Now(), body), body) // accepted
	eventually(t, 10*time.Second, "the delivery", func() bool { return len(be.successes()) == 2 })

	// in_progress: the backend holds the first request.
	hold, arrived := make(chan struct{}), make(chan struct{}, 1)
	be.SetStatus(func(int, recorded) int { arrived <- struct{}{}; <-hold; return 200 })
	done := make(chan struct{})
	go func() {
		post(t, g.URL("/sync"), signedStandard(t, "msg_m6", time.Now(), body), body)
		close(done)
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request never reached the backend")
	}
	post(t, g.URL("/sync"), signedStandard(t, "msg_m6", time.Now().Add(time.Second), body), body) // in_progress
	close(hold)
	<-done
	// The internal service fails: the claim is released.
	be.SetStatus(func(int, recorded) int { return http.StatusInternalServerError })
	post(t, g.URL("/sync"), signedStandard(t, "msg_m9", time.Now(), body), body) // passed, released
	be.SetStatus(nil)

	redis.Stop()
	post(t, g.URL("/sync"), signedStandard(t, "msg_m7", time.Now(), body), body) // store_unavailable
	redis.Start()

	m := g.metrics()
	for outcome, want := range map[string]float64{
		"passed": 3, "replayed": 1, "duplicate": 1, "invalid_signature": 1, "stale": 1,
		"too_large": 1, "accepted": 1, "in_progress": 1, "store_unavailable": 1,
	} {
		if got := metricValue(m, "caddy_webhook_requests_total", `outcome="`+outcome+`"`, `provider="standard"`); got != want {
			t.Errorf("requests_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	// The route is labelled by its configured path, not the request's host.
	if got := metricValue(m, "caddy_webhook_requests_total", `route="/sync"`); got < 8 {
		t.Errorf("route label: %v samples for /sync", got)
	}
	for _, name := range []string{"caddy_webhook_verify_duration_seconds_count", "caddy_webhook_delivery_duration_seconds_count"} {
		if metricValue(m, name) == 0 {
			t.Errorf("%s is 0", name)
		}
	}
	for _, op := range []string{"claim", "commit", "release", "enqueue"} {
		if metricValue(m, "caddy_webhook_store_duration_seconds_count", `op="`+op+`"`) == 0 {
			t.Errorf("store_duration_seconds{op=%q} has no samples", op)
		}
	}
	if got := metricValue(m, "caddy_webhook_deliveries_total", `result="delivered"`); got != 1 {
		t.Errorf("deliveries_total{result=delivered} = %v, want 1", got)
	}
	for _, gauge := range []string{"caddy_webhook_queue_depth", "caddy_webhook_queue_oldest_age_seconds", "caddy_webhook_dead_letters"} {
		if !strings.Contains(m, gauge+"{destination=") {
			t.Errorf("no %s gauge", gauge)
		}
	}

	// A reload neither panics nor resets or doubles the counters.
	before := metricValue(m, "caddy_webhook_requests_total")
	g.Reload(metricsConfig, vars)
	g.Reload(metricsConfig, vars)
	post(t, g.URL("/sync"), signedStandard(t, "msg_m8", time.Now(), body), body)
	after := metricValue(g.metrics(), "caddy_webhook_requests_total")
	if after != before+1 {
		t.Errorf("requests_total went from %v to %v across two reloads and one request", before, after)
	}
	if resp, err := httpClient.Get(g.URL("/sync")); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("gateway after reloads: %v %v", resp, err)
	}
}
