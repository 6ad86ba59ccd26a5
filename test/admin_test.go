package test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The admin API serves the running config's app. A reload that fails (a
// secret whose variable is unset) leaves the previous config running while
// the failed config's admin routes answer: they show the running queues,
// not the failed config's stopped app.
func TestAdminServesTheRunningConfig(t *testing.T) {
	be := newBackend(t)
	vars := gatewayVars{Backend: be.URL}
	g := newGateway(t, forwardConfig, vars)
	g.Start()

	queues := func() []map[string]any {
		t.Helper()
		var out []map[string]any
		if status := g.AdminJSON(http.MethodGet, "/webhook_ingress/queues", nil, &out); status != http.StatusOK {
			t.Fatalf("GET /webhook_ingress/queues: %d\n%s", status, g.logs)
		}
		return out
	}
	// Caddy makes a config the running one just after its servers
	// listen: until then the admin API answers 503 (retry).
	eventually(t, 10*time.Second, "the admin API to serve the running config", func() bool {
		return g.AdminJSON(http.MethodGet, "/webhook_ingress/queues", nil, nil) == http.StatusOK
	})
	running := len(queues())
	if running == 0 {
		t.Fatal("no queues listed")
	}

	failing := strings.Replace(forwardConfig, "secret "+standardSecret, "secret {env.WHI_TEST_UNSET_SECRET}", 1)
	if status, answer := g.load(failing, vars); status == http.StatusOK {
		t.Fatalf("a config with an unset secret loaded: %s", answer)
	}
	if n := len(queues()); n != running {
		t.Errorf("after a failed reload the admin API lists %d queues, want the running config's %d", n, running)
	}
}
