package test

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

const labelsConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /sync {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /named {
		webhook_verify standard {
			secret ` + standardSecret + `
			name billing
		}
		reverse_proxy {{.Backend}}
	}
}`

// The route label is what the configuration names; a sender spraying huge
// Host headers neither grows /metrics nor moves the real route's counts,
// and its log lines stay short.
func TestRouteLabelIgnoresRequest(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, labelsConfig, gatewayVars{Backend: be.URL})
	g.Start()

	body := []byte(`{"n":1}`)
	for _, path := range []string{"/sync", "/named"} {
		if status, resp, _ := post(t, g.URL(path), signedStandard(t, "msg"+path, time.Now(), body), body); status != 200 {
			t.Fatalf("%s: %d %s", path, status, resp)
		}
	}
	before := len(g.metrics())

	const rejected = 400
	host := strings.Repeat("h", 19<<10)
	for i := range rejected {
		req, _ := http.NewRequest(http.MethodPost, g.URL("/sync"), bytes.NewReader(body))
		req.Host = fmt.Sprintf("%s%d.example", host, i)
		req.Header.Set("webhook-id", "msg_spray")
		req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
		req.Header.Set("webhook-signature", "v1,AAAA")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged request %d: %d", i, resp.StatusCode)
		}
	}
	m := g.metrics()
	t.Logf("/metrics: %d bytes before, %d after %d rejected requests with %d-byte Hosts", before, len(m), rejected, len(host))
	if len(m) > before+4096 {
		t.Errorf("/metrics grew from %d to %d bytes", before, len(m))
	}
	for _, outcome := range []string{"passed", "invalid_signature"} {
		want := map[string]float64{"passed": 1, "invalid_signature": rejected}[outcome]
		if got := metricValue(m, "caddy_webhook_requests_total", `route="/sync"`, `outcome="`+outcome+`"`); got != want {
			t.Errorf(`requests_total{route="/sync",outcome=%q} = %v, want %v`, outcome, got, want)
		}
	}
	if got := metricValue(m, "caddy_webhook_requests_total", `route="billing"`, `outcome="passed"`); got != 1 {
		t.Errorf(`requests_total{route="billing"} = %v, want 1 (the handler's name)`, got)
	}
	if got := regexp.MustCompile(`route="[^"]*"`).FindAllString(grepLines(m, "caddy_webhook_requests_total"), -1); len(dedupe(got)) != 2 {
		t.Errorf("route labels: %v, want /sync and billing", dedupe(got))
	}

	if !g.logged("webhook rejected", "hhh...") {
		t.Error("no rejection logged with a clipped route")
	}
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if len(line) > 2048 {
			t.Fatalf("a %d-byte log line: %.300s...", len(line), line)
		}
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
