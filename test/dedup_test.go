package test

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

const redisVerifyConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		redis {{.Redis}} {
			key_prefix e2e:
		}
	}
}
:{{.HTTP}} {
	handle /standard {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /github {
		webhook_verify github {
			secret gh-secret
		}
		reverse_proxy {{.Backend}}
	}
	handle /forward {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/events
	}
}`

func TestReplayAndDedupAcrossInstancesSharingRedis(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	vars := gatewayVars{Backend: be.URL, Redis: redis.URL()}
	a := newGateway(t, redisVerifyConfig, vars)
	b := newGateway(t, redisVerifyConfig, vars)
	a.Start()
	b.Start()

	body := []byte(`{"type":"video.asset.ready","data":{"id":"asset_1"}}`)
	first := signedStandard(t, "msg_shared_1", time.Now(), body)

	if status, resp, _ := post(t, a.URL("/standard"), first, body); status != 200 {
		t.Fatalf("first delivery on A: %d %s", status, resp)
	}
	a.waitCommits(1)
	// The very same signed request on the other instance is a replay.
	if status, resp, _ := post(t, b.URL("/standard"), first, body); status != http.StatusConflict || !strings.Contains(resp, `"replayed"`) {
		t.Fatalf("replay on B: %d %s, want 409 replayed", status, resp)
	}
	// The provider's retry is signed anew (new timestamp): a duplicate.
	retry := signedStandard(t, "msg_shared_1", time.Now().Add(time.Second), body)
	status, resp, _ := post(t, b.URL("/standard"), retry, body)
	if status != http.StatusOK || resp != `{"id":"msg_shared_1","status":"duplicate"}`+"\n" {
		t.Fatalf("provider retry on B: %d %q, want 200 duplicate", status, resp)
	}
	if n := len(be.Requests()); n != 1 {
		t.Fatalf("backend got %d requests, want exactly 1", n)
	}

	// The internal service fails: the claim is released and the sender's
	// retry goes through.
	be.SetStatus(func(n int, _ recorded) int {
		if n == 2 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	body2 := []byte(`{"type":"video.asset.ready","data":{"id":"asset_2"}}`)
	if status, _, _ := post(t, a.URL("/standard"), signedStandard(t, "msg_shared_2", time.Now(), body2), body2); status != http.StatusBadGateway {
		t.Fatalf("first attempt: %d, want the backend's 502", status)
	}
	if status, resp, _ := post(t, b.URL("/standard"), signedStandard(t, "msg_shared_2", time.Now().Add(time.Second), body2), body2); status != 200 {
		t.Fatalf("retry after 5xx: %d %s, want it passed on", status, resp)
	}
	if n := len(be.Requests()); n != 3 {
		t.Fatalf("backend got %d requests, want 3", n)
	}

	// GitHub signs no timestamp: an identical resend is a duplicate.
	gh := []byte(`{"action":"published"}`)
	ghHeaders := map[string]string{
		"X-Hub-Signature-256": "sha256=" + hmacHex("gh-secret", gh),
		"X-GitHub-Delivery":   "d-1",
	}
	if status, _, _ := post(t, a.URL("/github"), ghHeaders, gh); status != 200 {
		t.Fatalf("github: %d", status)
	}
	a.waitCommits(2)
	if status, resp, _ := post(t, b.URL("/github"), ghHeaders, gh); status != 200 || !strings.Contains(resp, "duplicate") {
		t.Fatalf("github resend: %d %s, want 200 duplicate", status, resp)
	}

	// Redis stops: 503 with Retry-After, nothing forwarded.
	redis.Stop()
	before := len(be.Requests())
	body3 := []byte(`{"type":"video.asset.ready","data":{"id":"asset_3"}}`)
	status, resp, h := post(t, a.URL("/standard"), signedStandard(t, "msg_shared_3", time.Now(), body3), body3)
	if status != http.StatusServiceUnavailable || !strings.Contains(resp, "store_unavailable") || h.Get("Retry-After") == "" {
		t.Fatalf("redis down: %d %s (Retry-After %q), want 503 store_unavailable", status, resp, h.Get("Retry-After"))
	}
	if n := len(be.Requests()); n != before {
		t.Fatalf("a request went through while Redis was down")
	}
	// Redis comes back: requests succeed again without a restart.
	redis.Start()
	eventually(t, 15*time.Second, "requests to succeed after Redis restarted", func() bool {
		status, _, _ := post(t, a.URL("/standard"), signedStandard(t, "msg_shared_3", time.Now(), body3), body3)
		return status == 200
	})
}

// on_store_error allow passes requests on while the store is down.
func TestStoreErrorAllow(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	cfg := strings.Replace(redisVerifyConfig, "secret "+standardSecret, "secret "+standardSecret+"\n\t\t\ton_store_error allow", 1)
	g := newGateway(t, cfg, gatewayVars{Backend: be.URL, Redis: redis.URL()})
	g.Start()
	redis.Stop()
	body := []byte(`{"n":1}`)
	if status, resp, _ := post(t, g.URL("/standard"), signedStandard(t, "msg_allow", time.Now(), body), body); status != 200 {
		t.Fatalf("on_store_error allow with Redis down: %d %s", status, resp)
	}
	if !g.logged("without replay and dedup checks") {
		t.Error("passing a request unchecked was not logged")
	}
}

// The embedded store keeps the dedup window across a SIGKILL and restart.
func TestEmbeddedStoreSurvivesRestart(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, verifyConfig, gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"TEST_STANDARD_SECRET=" + standardSecret}
	g.Start()
	body := []byte(`{"n":"restart"}`)
	if status, _, _ := post(t, g.URL("/standard"), signedStandard(t, "msg_restart", time.Now(), body), body); status != 200 {
		t.Fatal("first request failed")
	}
	// The dedup key is written right after the answer; a SIGKILL keeps it.
	g.waitCommits(1)
	g.Kill()
	g.Start()
	status, resp, _ := post(t, g.URL("/standard"), signedStandard(t, "msg_restart", time.Now().Add(time.Second), body), body)
	if status != 200 || !strings.Contains(resp, "duplicate") {
		t.Fatalf("after SIGKILL and restart: %d %s, want 200 duplicate", status, resp)
	}
	if n := len(be.Requests()); n != 1 {
		t.Fatalf("backend got %d requests, want 1", n)
	}
}

// Concurrent duplicates: exactly one reaches the backend; the others are
// told the first is in progress.
func TestConcurrentDuplicatesOneWins(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	release := make(chan struct{})
	be.SetStatus(func(int, recorded) int { <-release; return 200 })
	g := newGateway(t, redisVerifyConfig, gatewayVars{Backend: be.URL, Redis: redis.URL()})
	g.Start()
	body := []byte(`{"n":"concurrent"}`)
	results := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			h := signedStandard(t, "msg_conc", time.Now().Add(time.Duration(i)*time.Second), body)
			status, resp, _ := post(t, g.URL("/standard"), h, body)
			results <- fmt.Sprintf("%d %s", status, strings.TrimSpace(resp))
		}(i)
	}
	inProgress := 0
	for i := 0; i < 7; i++ {
		r := <-results
		if r != `409 {"error":"in_progress"}` {
			t.Errorf("unexpected answer while the first is in flight: %s", r)
		}
		inProgress++
	}
	close(release)
	if r := <-results; !strings.HasPrefix(r, "200") {
		t.Errorf("the winner got %s", r)
	}
	if n := len(be.Requests()); n != 1 {
		t.Fatalf("backend got %d requests, want 1", n)
	}
}

// `caddy validate` needs no live Redis; a gateway started while Redis is
// down says so clearly, answers 503, and recovers when Redis comes up.
func TestRedisDownAtStart(t *testing.T) {
	redis := redistest.Start(t)
	redis.Stop()
	be := newBackend(t)
	g := newGateway(t, redisVerifyConfig, gatewayVars{Backend: be.URL, Redis: redis.URL()})
	if out, err := exec.Command(caddyBin, "validate", "--config", g.config, "--adapter", "caddyfile").CombinedOutput(); err != nil {
		t.Fatalf("caddy validate with Redis down: %v\n%s", err, out)
	}
	g.Start()
	eventually(t, 10*time.Second, "the unreachable-store log line", func() bool {
		return strings.Contains(g.logs.String(), "store unreachable")
	})
	body := []byte(`{"n":"down"}`)
	if status, _, _ := post(t, g.URL("/standard"), signedStandard(t, "msg_down", time.Now(), body), body); status != http.StatusServiceUnavailable {
		t.Fatalf("Redis down: %d, want 503", status)
	}
	redis.Start()
	eventually(t, 15*time.Second, "requests to succeed once Redis is up", func() bool {
		status, _, _ := post(t, g.URL("/standard"), signedStandard(t, "msg_down", time.Now(), body), body)
		return status == http.StatusOK
	})
}
