package test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRedriveCountsAttemptsOn: a redriven dead letter gets max_attempts
// attempts again, and Webhook-Attempt counts on from where it stopped,
// through a second death, a restart and a second redrive, with either
// store.
func TestRedriveCountsAttemptsOn(t *testing.T) {
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		var up atomic.Bool // the destination answers 503 until up
		be.SetStatus(func(int, recorded) int {
			return map[bool]int{false: http.StatusServiceUnavailable, true: http.StatusOK}[up.Load()]
		})
		g := newGateway(t, forwardConfig, vars)
		g.Start()
		body := []byte(`{"n":1}`)
		if status, _, _ := post(t, g.URL("/doomed"), signedStandard(t, "msg_redriven", time.Now(), body), body); status != http.StatusAccepted {
			t.Fatalf("status %d", status)
		}
		doomed := be.URL + "/doomed"
		dies := func(attempts int) {
			t.Helper()
			eventually(t, 10*time.Second, "a dead letter", func() bool {
				var dead []struct{ Attempts int }
				g.AdminJSON("GET", "/webhook_ingress/dead?destination="+doomed, nil, &dead)
				return len(dead) == 1 && dead[0].Attempts == attempts
			})
		}
		redrive := func() {
			t.Helper()
			// The store may still be opening just after a start (503).
			eventually(t, 10*time.Second, "a redrive", func() bool {
				var redriven map[string]int
				code := g.AdminJSON("POST", "/webhook_ingress/dead/redrive", map[string]any{"destination": doomed}, &redriven)
				return code == http.StatusOK && redriven["redriven"] == 1
			})
		}
		dies(2) // max_attempts 2
		redrive()
		dies(2)
		g.Stop()
		g.Start()
		up.Store(true)
		redrive()
		eventually(t, 10*time.Second, "the redriven event delivered", func() bool { return len(be.successes()) == 1 })
		var seen []string
		for _, r := range be.Requests() {
			seen = append(seen, r.Header.Get("Webhook-Attempt"))
		}
		if got := strings.Join(seen, ","); got != "1,2,3,4,5" {
			t.Errorf("Webhook-Attempt %s, want 1,2,3,4,5", got)
		}
	})
}
