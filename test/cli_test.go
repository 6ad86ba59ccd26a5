package test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func runCaddy(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(caddyBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The `caddy webhook` subcommands, run as a user would.
func TestCLI(t *testing.T) {
	be := newBackend(t)
	be.SetStatus(func(_ int, r recorded) int {
		if r.Path == "/doomed" {
			return 400
		}
		return 200
	})
	g := newGateway(t, forwardConfig, gatewayVars{Backend: be.URL})
	g.Start()
	admin := "--admin=localhost:" + strings.TrimPrefix(g.AdminURL(""), "http://localhost:")

	// sign prints headers curl can send; the gateway accepts them.
	body := `{"type":"render.done","id":"cli-1"}`
	out, err := runCaddy(t, body, "webhook", "sign", "--provider", "standard", "--secret", standardSecret, "--id", "msg_cli_1")
	if err != nil || !strings.Contains(out, "Webhook-Signature: v1,") {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	headers := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		headers[k] = v
	}
	if status, resp, _ := post(t, g.URL("/hooks"), headers, []byte(body)); status != 202 {
		t.Fatalf("request signed by `caddy webhook sign`: %d %s", status, resp)
	}

	// send signs and posts.
	out, err = runCaddy(t, `{"n":"cli-2"}`, "webhook", "send", "--provider", "standard", "--secret", standardSecret, g.URL("/doomed"))
	if err != nil || !strings.Contains(out, "202 Accepted") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	out, err = runCaddy(t, `{"n":"cli-3"}`, "webhook", "send", "--provider", "standard", "--secret", "whsec_AAAA", g.URL("/hooks"))
	if err == nil || !strings.Contains(out, "401") {
		t.Fatalf("send with a wrong secret should fail with 401: %v\n%s", err, out)
	}

	// -H/--header adds a request header, as with curl; the help is this
	// command's own, not a link to Caddy's generic docs.
	out, err = runCaddy(t, `{"n":"cli-4"}`, "webhook", "send", "--provider", "standard", "--secret", standardSecret,
		"-H", "X-Render-Job: 42", "--header", "X-Render-Farm: east", g.URL("/hooks"))
	if err != nil || !strings.Contains(out, "202 Accepted") {
		t.Fatalf("send -H: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "the delivery with the -H headers", func() bool {
		for _, r := range be.successes() {
			if r.Path == "/events" && r.Header.Get("X-Render-Job") == "42" && r.Header.Get("X-Render-Farm") == "east" {
				return true
			}
		}
		return false
	})
	if out, _ := runCaddy(t, "", "webhook", "send", "--help"); !strings.Contains(out, "-H, --header") || strings.Contains(out, "caddyserver.com") {
		t.Errorf("send --help:\n%s", out)
	}

	// queues, dead and redrive talk to the admin API (forwardConfig has five
	// destinations).
	eventually(t, 10*time.Second, "a dead letter", func() bool {
		out, _ := runCaddy(t, "", "webhook", "dead", admin, "--json")
		return strings.Contains(out, `"attempts":2`)
	})
	out, err = runCaddy(t, "", "webhook", "queues", admin)
	if err != nil || !strings.Contains(out, "DESTINATION") || !strings.Contains(out, be.URL+"/doomed") {
		t.Fatalf("queues: %v\n%s", err, out)
	}
	out, err = runCaddy(t, "", "webhook", "queues", admin, "--json")
	var queues []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &queues) != nil || len(queues) != 5 {
		t.Fatalf("queues --json: %v\n%s", err, out)
	}
	out, err = runCaddy(t, "", "webhook", "dead", admin, "--destination", be.URL+"/doomed")
	if err != nil || !strings.Contains(out, "400") || !strings.Contains(out, "standard") {
		t.Fatalf("dead: %v\n%s", err, out)
	}
	out, err = runCaddy(t, "", "webhook", "redrive", admin, "--destination", be.URL+"/doomed")
	if err != nil || !strings.Contains(out, "redriven: 1") {
		t.Fatalf("redrive: %v\n%s", err, out)
	}
	if out, err := runCaddy(t, "", "webhook", "queues", "--admin=localhost:1"); err == nil || !strings.Contains(out, "is Caddy running") {
		t.Fatalf("queues without a gateway: %v\n%s", err, out)
	}
}
