package test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// routingConfig routes on the event type and body fields, synchronously
// (matchers in front of reverse_proxy and respond) and asynchronously
// (webhook_forward's per-destination filter), with no catch-all: what
// matches nothing is an event nobody wants.
const routingConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	{{if .Redis}}webhook_ingress {
		redis {{.Redis}} {
			key_prefix route:
		}
	}{{end}}
}
:{{.HTTP}} {
	route /sync {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		@ready webhook_event render.ready "clip.*"
		reverse_proxy @ready {{.Backend}} {
			header_up X-Event {http.webhook.event}
			header_up X-Render {http.webhook.json.data.render.id}
		}
		@failed expression {http.webhook.event}.endsWith('.failed') && {http.webhook.json.data.attempt} == '3'
		respond @failed "gave up on {http.webhook.json.data.render.id} ({http.webhook.event})" 200
		@cel expression webhook_event('render.cel')
		respond @cel "cel" 200
	}
	handle /async {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {
			to {{.Backend}}/renders {
				events render.*
			}
			to {{.Backend}}/clips {
				events clip.*
			}
		}
	}
	handle /async-nodedupe {
		webhook_verify standard {
			secret ` + standardSecret + `
			dedupe off
		}
		webhook_forward {
			to {{.Backend}}/renders {
				events render.*
			}
		}
	}
}`

func TestRoutingByEvent(t *testing.T) {
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		g := newGateway(t, routingConfig, vars)
		g.Start()
		routeSync(t, g, be)
		routeAsync(t, g, be)
	})
}

// withEachStore runs f with the embedded store, then with a Redis of its
// own, each with a fresh backend.
func withEachStore(t *testing.T, f func(t *testing.T, be *backend, vars gatewayVars)) {
	for _, redis := range []bool{false, true} {
		t.Run(storeName(redis), func(t *testing.T) {
			be := newBackend(t)
			vars := gatewayVars{Backend: be.URL}
			if redis {
				vars.Redis = redistest.Start(t).URL()
			}
			f(t, be, vars)
		})
	}
}

// routedEvent is a Standard Webhooks event of type typ.
func routedEvent(typ, extra string) []byte {
	return fmt.Appendf(nil, `{"type":%q,"data":{"render":{"id":"rnd_1"}%s}}`, typ, extra)
}

// sendEvent signs each request at another second, so that a resend is a
// new signed request (a duplicate), not a replay of the same one.
func sendEvent(t *testing.T, g *gateway, path, id string, body []byte) (int, string) {
	t.Helper()
	ts := time.Unix(signingSecond(), 0)
	status, resp, _ := post(t, g.URL(path), signedStandard(t, id, ts, body), body)
	return status, resp
}

var signed struct {
	sync.Mutex
	last int64
}

// signingSecond returns a past second that no earlier call returned,
// however long each signing takes: an offset from the clock alone repeats
// a second when a call takes one.
func signingSecond() int64 {
	signed.Lock()
	defer signed.Unlock()
	at := time.Now().Unix() - 1
	if signed.last != 0 {
		at = min(at, signed.last-1)
	}
	signed.last = at
	return at
}

func routeSync(t *testing.T, g *gateway, be *backend) {
	status, resp := sendEvent(t, g, "/sync", "s_ready", routedEvent("render.ready", ""))
	if status != http.StatusOK || !strings.Contains(resp, "backend says") {
		t.Fatalf("render.ready: %d %s\n%s", status, resp, g.logs)
	}
	got := be.Requests()[0]
	if got.Header.Get("X-Event") != "render.ready" || got.Header.Get("X-Render") != "rnd_1" {
		t.Errorf("placeholders in header_up: X-Event %q X-Render %q", got.Header.Get("X-Event"), got.Header.Get("X-Render"))
	}
	if status, resp = sendEvent(t, g, "/sync", "s_clip", routedEvent("clip.cut", "")); status != http.StatusOK || !strings.Contains(resp, "backend says") {
		t.Errorf("clip.cut (a glob): %d %s", status, resp)
	}
	status, resp = sendEvent(t, g, "/sync", "s_failed", routedEvent("render.failed", `,"attempt":3`))
	if status != http.StatusOK || resp != "gave up on rnd_1 (render.failed)" {
		t.Errorf("expression on the placeholders: %d %q", status, resp)
	}
	if status, resp = sendEvent(t, g, "/sync", "s_cel", routedEvent("render.cel", "")); status != http.StatusOK || resp != "cel" {
		t.Errorf("webhook_event in an expression: %d %q", status, resp)
	}

	// Nobody wants these: 200 so that the sender stops, counted apart.
	for id, body := range map[string][]byte{
		"s_other":   routedEvent("render.started", ""),
		"s_attempt": routedEvent("render.failed", `,"attempt":2`),
		"s_notjson": []byte("render.ready, but not JSON"),
		"s_deep":    []byte(strings.Repeat(`{"type":`, 5000) + `"render.ready"` + strings.Repeat("}", 5000)),
	} {
		status, resp := sendEvent(t, g, "/sync", id, body)
		if status != http.StatusOK || resp != `{"id":"`+id+`","status":"unrouted"}`+"\n" {
			t.Errorf("%s: %d %q, want 200 unrouted", id, status, resp)
		}
	}
	g.waitCommits(8)
	// The claim of an unrouted event holds: its resend is a duplicate.
	if status, resp := sendEvent(t, g, "/sync", "s_other", routedEvent("render.started", "")); status != http.StatusOK || !strings.Contains(resp, "duplicate") {
		t.Errorf("resent unrouted event: %d %q, want 200 duplicate", status, resp)
	}
	if n := len(be.Requests()); n != 2 {
		t.Errorf("backend got %d requests, want 2", n)
	}
	m := g.metrics()
	if got := metricValue(m, "caddy_webhook_requests_total", `route="/sync"`, `outcome="unrouted"`); got != 4 {
		t.Errorf("%v unrouted, want 4", got)
	}
	if strings.Contains(g.logs.String(), "panic") {
		t.Errorf("the gateway panicked:\n%s", g.logs)
	}
}

func routeAsync(t *testing.T, g *gateway, be *backend) {
	before := len(be.Requests())
	for id, typ := range map[string]string{"a_render": "render.done", "a_clip": "clip.cut"} {
		if status, resp := sendEvent(t, g, "/async", id, routedEvent(typ, "")); status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", typ, status, resp)
		}
	}
	for _, path := range []string{"/async", "/async-nodedupe"} {
		status, resp := sendEvent(t, g, path, "a_none", routedEvent("upload.created", ""))
		if status != http.StatusOK || !strings.Contains(resp, `"status":"unrouted"`) {
			t.Errorf("%s: event nobody wants: %d %q, want 200 unrouted", path, status, resp)
		}
	}
	// Its claim was taken with the answer: the resend is a duplicate.
	eventually(t, 10*time.Second, "the unrouted event's commit", func() bool {
		status, resp := sendEvent(t, g, "/async", "a_none", routedEvent("upload.created", ""))
		return status == http.StatusOK && strings.Contains(resp, "duplicate")
	})
	// A resend of a routed event is one too, however many destinations,
	// and the same signed request sent again is a replay.
	if status, resp := sendEvent(t, g, "/async", "a_render", routedEvent("render.done", "")); status != http.StatusOK || !strings.Contains(resp, "duplicate") {
		t.Errorf("resent routed event: %d %q", status, resp)
	}
	body := routedEvent("clip.trim", "")
	signed := signedStandard(t, "a_replay", time.Now(), body)
	for i, want := range []int{http.StatusAccepted, http.StatusConflict} {
		if status, resp, _ := post(t, g.URL("/async"), signed, body); status != want {
			t.Errorf("signed request sent %d times: %d %q, want %d", i+1, status, resp, want)
		}
	}
	eventually(t, 10*time.Second, "the three deliveries", func() bool { return len(be.successes()) >= before+3 })
	for _, dest := range []string{"/renders", "/clips"} {
		eventually(t, 10*time.Second, "an empty queue for "+dest, func() bool {
			q := g.queue(be.URL + dest)
			return q.Queued == 0 && q.InFlight == 0 && q.Retrying == 0
		})
	}
	var got []string
	for _, r := range be.Requests()[before:] {
		got = append(got, r.Path+" "+r.Header.Get("Webhook-Id"))
	}
	slices.Sort(got)
	if want := []string{"/clips a_clip", "/clips a_replay", "/renders a_render"}; !slices.Equal(got, want) {
		t.Errorf("deliveries %q, want %q", got, want)
	}
	m := g.metrics()
	if got := metricValue(m, "caddy_webhook_requests_total", `outcome="unrouted"`, `route="/async`); got != 2 {
		t.Errorf("%v unrouted on /async*, want 2", got)
	}
}

// The example a video platform copies: Mux and Shotstack events, routed to
// a publisher, an alerting service and an archive, with both stores.
func TestVideoCaddyfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "caddyfiles", "video.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const muxSecret, shotstackToken = "mux-video-secret", "shotstack-video-token"
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		// The file as shipped, on a test port and the test's store.
		global := "\tadmin localhost:{{.Admin}}\n\thttp_port {{.HTTP}}\n\tpersist_config off\n" +
			"\twebhook_ingress {\n\t\t{{if .Redis}}redis {{.Redis}}{{else}}data_dir {{.DataDir}}/video{{end}}\n\t}\n"
		config := string(raw)
		for from, to := range map[string]string{
			"\twebhook_ingress {\n\t\tdata_dir /var/lib/caddy-webhooks\n\t}\n": global,
			"hooks.example.com {": ":{{.HTTP}} {",
		} {
			if !strings.Contains(config, from) {
				t.Fatalf("video.Caddyfile no longer has %q: update this test", from)
			}
			config = strings.Replace(config, from, to, 1)
		}
		g := newGateway(t, config, vars)
		g.extraEnv = []string{"MUX_SECRET=" + muxSecret, "SHOTSTACK_TOKEN=" + shotstackToken,
			"PUBLISHER=" + be.URL + "/publisher", "ALERTS=" + be.URL + "/alerts", "ARCHIVE=" + be.URL + "/archive"}
		g.Start()

		// Mux signs as Stripe does (t=,v1= over "{t}.{body}"); its SDK
		// only verifies, so Stripe's own library signs here, and the
		// Mux SDK's vectors prove the scheme in internal/verify.
		mux := func(id, typ string) (int, string) {
			body := fmt.Appendf(nil, `{"type":%q,"id":%q,"object":{"type":"asset","id":"as_1"},"data":{"status":"ready"}}`, typ, id)
			// Each at another second: a resend is a new signed request.
			h := npmSign(t, "stripe", muxSecret, "", signingSecond(), body)
			status, resp, _ := post(t, g.URL("/mux"), map[string]string{"Mux-Signature": h["Stripe-Signature"]}, body)
			return status, resp
		}
		// Shotstack does not sign: its callback URL carries the token.
		shotstack := func(id, status string) (int, string) {
			body := fmt.Appendf(nil, `{"type":"edit","action":"render","id":%q,"owner":"o1","status":%q,"url":"https://cdn.example/%s.mp4","error":null,"completed":"2026-12-06T19:00:00.000Z"}`, id, status, id)
			code, resp, _ := post(t, g.URL("/shotstack?token="+shotstackToken), nil, body)
			return code, resp
		}
		for id, typ := range map[string]string{"mux_ready": "video.asset.ready", "mux_errored": "video.asset.errored",
			"mux_live_errored": "video.live_stream.errored", "mux_upload": "video.upload.created"} {
			if status, resp := mux(id, typ); status != http.StatusAccepted {
				t.Fatalf("mux %s: %d %s\n%s", typ, status, resp, g.logs)
			}
		}
		for id, st := range map[string]string{"rnd_done": "done", "rnd_failed": "failed", "rnd_queued": "queued"} {
			if status, resp := shotstack(id, st); status != http.StatusAccepted {
				t.Fatalf("shotstack %s: %d %s\n%s", st, status, resp, g.logs)
			}
		}
		// Dedup holds once per event, whatever it fanned out to.
		if status, resp := mux("mux_ready", "video.asset.ready"); status != http.StatusOK || !strings.Contains(resp, "duplicate") {
			t.Errorf("mux resend: %d %s", status, resp)
		}
		if status, resp := shotstack("rnd_done", "done"); status != http.StatusOK || !strings.Contains(resp, "duplicate") {
			t.Errorf("shotstack resend: %d %s", status, resp)
		}

		want := []string{
			"/alerts/mux mux_errored", "/alerts/mux mux_live_errored", "/alerts/shotstack rnd_failed:edit",
			"/archive/mux mux_errored", "/archive/mux mux_live_errored", "/archive/mux mux_ready", "/archive/mux mux_upload",
			"/archive/shotstack rnd_done:edit", "/archive/shotstack rnd_failed:edit", "/archive/shotstack rnd_queued:edit",
			"/publisher/mux mux_ready", "/publisher/shotstack rnd_done:edit",
		}
		eventually(t, 20*time.Second, "every delivery", func() bool { return len(be.successes()) >= len(want) })
		for _, r := range be.Requests() {
			dest := be.URL + r.Path
			eventually(t, 10*time.Second, "an empty queue for "+dest, func() bool {
				q := g.queue(dest)
				return q.Queued == 0 && q.InFlight == 0 && q.Retrying == 0
			})
		}
		var got []string
		for _, r := range be.Requests() {
			got = append(got, r.Path+" "+r.Header.Get("Webhook-Id"))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("deliveries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// A webhook_event matcher no webhook_verify runs before can never match:
// the config is refused when it loads, naming the matcher.
func TestEventMatcherWithoutVerifyRefused(t *testing.T) {
	config := `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	@ready webhook_event render.ready
	webhook_verify @ready standard {
		secret ` + standardSecret + `
	}
	respond "verified"
}`
	g := newGateway(t, config, gatewayVars{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, "run", "--config", g.config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+g.DataDir, "XDG_CONFIG_HOME="+g.DataDir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "webhook_event render.ready in server srv0 can never see a verified request") {
		t.Fatalf("caddy run: %v\n%s", err, out)
	}
}
