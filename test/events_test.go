package test

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// eventsConfig keeps an event log: /sync passes events on to the backend,
// /hooks queues them for it. {{.Redis}} empty means the embedded store.
const eventsConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		retain %s
		{{if .Redis}}redis {{.Redis}} {
			key_prefix events:
		}{{end}}
	}
}
:{{.HTTP}} {
	handle /sync {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /plain {
		webhook_verify github {
			secret gh-secret
			dedupe off
		}
		reverse_proxy {{.Backend}}
	}
	handle /hooks {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/events {
			backoff 50ms 100ms
			max_attempts 5
		}
	}
}`

// listedEvent is a record as GET /webhook_ingress/events lists it.
type listedEvent struct {
	Key          string
	ID           string
	Provider     string
	Type         string
	Mode         string
	Answer       int
	State        string
	Attempts     int
	Destinations []string
}

// shownEvent is one record as GET /webhook_ingress/events/<ref> shows it.
type shownEvent struct {
	listedEvent
	Headers    http.Header
	Body       []byte
	AttemptLog []struct {
		Destination string
		Attempt     int
		Status      int
		Result      string
		Replay      bool
	} `json:"attempt_log"`
}

func listEvents(g *gateway, query string) []listedEvent {
	var out []listedEvent
	g.AdminJSON("GET", "/webhook_ingress/events?"+query, nil, &out)
	return out
}

func showEvent(t *testing.T, g *gateway, ref string) shownEvent {
	t.Helper()
	var out shownEvent
	if code := g.AdminJSON("GET", "/webhook_ingress/events/"+ref, nil, &out); code != http.StatusOK {
		t.Fatalf("GET /webhook_ingress/events/%s: %d", ref, code)
	}
	return out
}

// TestEventLog traces events end to end, with either store: a sync and an
// async event are listed with their answers and attempts, kept across a
// restart, replayed one by one and in bulk (with a dry run first) with
// their original Webhook-Id and a replay mark, and the CLI shows the same;
// a route that claims nothing is recorded as well.
func TestEventLog(t *testing.T) {
	t.Parallel()
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		var failFirst atomic.Bool // the first delivery attempt gets 503
		failFirst.Store(true)
		be.SetStatus(func(n int, r recorded) int {
			if r.Path == "/events" && failFirst.CompareAndSwap(true, false) {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		g := newGateway(t, fmt.Sprintf(eventsConfig, "72h"), vars)
		g.Start()

		syncBody, asyncBody := []byte(`{"type":"render.started"}`), []byte(`{"type":"render.completed"}`)
		if status, _, _ := post(t, g.URL("/sync"), signedStandard(t, "msg_sync", time.Now(), syncBody), syncBody); status != http.StatusOK {
			t.Fatalf("sync: %d", status)
		}
		if status, _, _ := post(t, g.URL("/hooks"), signedStandard(t, "msg_async", time.Now(), asyncBody), asyncBody); status != http.StatusAccepted {
			t.Fatalf("async: %d", status)
		}
		var events []listedEvent
		eventually(t, 10*time.Second, "both events listed, the async one delivered on its second attempt", func() bool {
			events = listEvents(g, "")
			return len(events) == 2 && events[0].State == "delivered" && events[0].Attempts == 2
		})
		async, sync := events[0], events[1]
		if async.ID != "msg_async" || async.Mode != "async" || async.Answer != 202 || async.Type != "render.completed" ||
			len(async.Destinations) != 1 || async.Provider != "standard" {
			t.Errorf("async event listed as %+v", async)
		}
		if sync.ID != "msg_sync" || sync.Mode != "sync" || sync.Answer != 200 || sync.State != "passed" || sync.Attempts != 0 {
			t.Errorf("sync event listed as %+v", sync)
		}
		if got := listEvents(g, "status=passed"); len(got) != 1 || got[0].ID != "msg_sync" {
			t.Errorf("status=passed lists %+v", got)
		}
		if got := listEvents(g, "type=render.*&limit=1"); len(got) != 1 || got[0].ID != "msg_async" {
			t.Errorf("type=render.*&limit=1 lists %+v", got)
		}

		shown := showEvent(t, g, "msg_async")
		if !bytes.Equal(shown.Body, asyncBody) || shown.Key != async.Key || len(shown.AttemptLog) != 2 ||
			shown.AttemptLog[0].Status != 503 || shown.AttemptLog[1].Status != 200 ||
			shown.AttemptLog[1].Result != "delivered" || shown.Headers.Get("Content-Type") == "" {
			t.Errorf("async event shown as %+v", shown)
		}

		g.Stop()
		g.Start()
		eventually(t, 10*time.Second, "the log kept across a restart", func() bool { return len(listEvents(g, "")) == 2 })

		// A replay goes out through the queue with the original id, marked.
		before := len(be.successes())
		var replayed map[string]any
		eventually(t, 10*time.Second, "a replay accepted", func() bool {
			return g.AdminJSON("POST", "/webhook_ingress/events/"+async.Key+"/replay", nil, &replayed) == http.StatusAccepted
		})
		eventually(t, 10*time.Second, "the replay delivered", func() bool { return len(be.successes()) == before+1 })
		got := be.successes()[before]
		if got.Path != "/events" || got.Header.Get("Webhook-Id") != "msg_async" ||
			got.Header.Get("Webhook-Replay-Of") != async.Key || !bytes.Equal(got.Body, asyncBody) {
			t.Errorf("replay arrived as %s %v %s", got.Path, got.Header, got.Body)
		}
		eventually(t, 10*time.Second, "the replay's attempt recorded", func() bool {
			s := showEvent(t, g, async.Key)
			return len(s.AttemptLog) == 3 && s.AttemptLog[2].Replay && s.AttemptLog[2].Status == 200
		})

		// A sync event has no destination of its own: it needs one named.
		if code := g.AdminJSON("POST", "/webhook_ingress/events/"+sync.Key+"/replay", nil, nil); code < 400 || code >= 500 {
			t.Errorf("replay of a sync event without a destination: %d", code)
		}
		before = len(be.successes())
		if code := g.AdminJSON("POST", "/webhook_ingress/events/msg_sync/replay", map[string]string{"to": be.URL + "/events"}, nil); code != http.StatusAccepted {
			t.Errorf("replay of a sync event to a destination: %d", code)
		}
		eventually(t, 10*time.Second, "the sync event replayed", func() bool { return len(be.successes()) == before+1 })

		// Bulk: a dry run counts, then the same filter replays.
		var counted, bulk struct{ Matched, Replayed int }
		g.AdminJSON("POST", "/webhook_ingress/events/replay", map[string]any{"provider": "standard", "type": "render.completed", "dry_run": true}, &counted)
		if counted.Matched != 1 || counted.Replayed != 0 {
			t.Errorf("dry run: %+v", counted)
		}
		before = len(be.successes())
		g.AdminJSON("POST", "/webhook_ingress/events/replay", map[string]any{"provider": "standard", "type": "render.completed"}, &bulk)
		if bulk.Matched != 1 || bulk.Replayed != 1 {
			t.Errorf("bulk replay: %+v", bulk)
		}
		eventually(t, 10*time.Second, "the bulk replay delivered", func() bool { return len(be.successes()) == before+1 })
		if ids := be.successes()[before].Header.Get("Webhook-Id"); ids != "msg_async" {
			t.Errorf("bulk replay delivered %s", ids)
		}

		// The dedup state is untouched: the sender's retry is still a duplicate.
		if status, resp, _ := post(t, g.URL("/hooks"), signedStandard(t, "msg_async", time.Now().Add(time.Second), asyncBody), asyncBody); status != http.StatusOK || !strings.Contains(resp, "duplicate") {
			t.Errorf("the sender's retry after replays: %d %s", status, resp)
		}
		checkEventsCLI(t, g, async.Key)

		// A route that claims nothing (no signed timestamp, dedupe off)
		// is recorded too.
		gh := []byte(`{"zen":"Keep it logically awesome."}`)
		if status, _, _ := post(t, g.URL("/plain"), npmSign(t, "github", "gh-secret", "delivery-plain", 0, gh), gh); status != http.StatusOK {
			t.Fatalf("/plain: %d", status)
		}
		eventually(t, 10*time.Second, "the unclaimed event listed", func() bool {
			got := listEvents(g, "provider=github")
			return len(got) == 1 && got[0].ID == "delivery-plain" && got[0].State == "passed"
		})
	})
}

// checkEventsCLI runs `caddy webhook events`, `event` and `replay` as a
// user would.
func checkEventsCLI(t *testing.T, g *gateway, key string) {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(caddyBin, append(append([]string{"webhook"}, args...), "--admin", strings.TrimPrefix(g.AdminURL(""), "http://"))...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("caddy webhook %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	if out := run("events", "--provider", "standard"); !strings.Contains(out, key) || !strings.Contains(out, "msg_sync") {
		t.Errorf("caddy webhook events:\n%s", out)
	}
	if out := run("event", "msg_async"); !strings.Contains(out, "render.completed") || !strings.Contains(out, "503") {
		t.Errorf("caddy webhook event msg_async:\n%s", out)
	}
	if out := run("replay", "--provider", "standard", "--type", "render.completed", "--dry-run"); !strings.Contains(out, "matched: 1") {
		t.Errorf("caddy webhook replay --dry-run:\n%s", out)
	}
}

// TestEventLogExpires: records go once their retention ends, with either
// store, while the gateway keeps running.
func TestEventLogExpires(t *testing.T) {
	t.Parallel()
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		g := newGateway(t, fmt.Sprintf(eventsConfig, "2s"), vars)
		g.Start()
		body := []byte(`{"type":"render.completed"}`)
		if status, _, _ := post(t, g.URL("/hooks"), signedStandard(t, "msg_short", time.Now(), body), body); status != http.StatusAccepted {
			t.Fatalf("status %d", status)
		}
		eventually(t, 10*time.Second, "the event listed", func() bool { return len(listEvents(g, "")) == 1 })
		eventually(t, 15*time.Second, "the event expired", func() bool {
			return len(listEvents(g, "")) == 0 && g.AdminJSON("GET", "/webhook_ingress/events/msg_short", nil, nil) == http.StatusNotFound
		})
	})
}

// TestEventLogOff: without retain nothing is recorded, and the API says
// how to turn it on.
func TestEventLogOff(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := newGateway(t, forwardConfig, gatewayVars{Backend: be.URL})
	g.Start()
	body := []byte(`{"n":1}`)
	post(t, g.URL("/hooks"), signedStandard(t, "msg_off", time.Now(), body), body)
	resp, err := httpClient.Get(g.AdminURL("/webhook_ingress/events"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(b.String(), "retain") {
		t.Errorf("events with the log off: %d %s", resp.StatusCode, b.String())
	}
}
