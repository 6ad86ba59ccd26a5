package webhookingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// eventsAdmin serves the event log's admin paths over app as Caddy's admin
// endpoint does, errors as {"error": message}.
func eventsAdmin(t *testing.T, app *App, q *fakeQueue) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := Admin{}.serveEvents(w, r, app, q, strings.TrimPrefix(r.URL.Path, adminPrefix))
		var ae caddy.APIError
		if errors.As(err, &ae) {
			w.WriteHeader(ae.HTTPStatus)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": ae.Message})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runWebhook runs `caddy webhook <args>` against srv, returning stdout and
// stderr.
func runWebhook(t *testing.T, srv *httptest.Server, args ...string) (string, string, error) {
	t.Helper()
	c := &cobra.Command{Use: "webhook"}
	c.AddCommand(eventsCommand(), eventCommand(), replayCommand())
	var stdout, stderr bytes.Buffer
	c.SetOut(&stdout)
	c.SetErr(&stderr)
	c.SetArgs(append(args, "--admin", srv.URL))
	err := c.Execute()
	return stdout.String(), stderr.String(), err
}

func TestEventsCommand(t *testing.T) {
	app, log, q := eventsFixture()
	srv := eventsAdmin(t, app, q)
	out, errOut, err := runWebhook(t, srv, "events", "--provider", "mux", "--type", "video.*", "--since", "1d",
		"--status", "delivered", "--scope", "route")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "RECEIVED KEY ID PROVIDER TYPE MODE ANSWER STATE ATTEMPTS" ||
		!strings.Contains(lines[1], log.records[0].Key) || !strings.Contains(lines[1], "async") || errOut != "" {
		t.Errorf("events:\n%s%s", out, errOut)
	}
	if f := log.lastFilter(); f.Provider != "mux" || f.Type != "video.*" || f.Status != "delivered" || f.Scope != "route" ||
		f.Since.IsZero() || f.Limit != defaultEventPage {
		t.Errorf("filter %+v", f)
	}

	out, errOut, err = runWebhook(t, srv, "events", "--limit", "1")
	if err != nil || !strings.Contains(out, "evt_1") || errOut != "more: --cursor "+log.records[0].Key+"\n" {
		t.Errorf("a first page:\n%s%s (%v)", out, errOut, err)
	}
	out, _, err = runWebhook(t, srv, "events", "--limit", "1", "--cursor", log.records[0].Key)
	if err != nil || !strings.Contains(out, "evt_2") || strings.Contains(out, "evt_1") {
		t.Errorf("the next page:\n%s (%v)", out, err)
	}
	out, _, err = runWebhook(t, srv, "events", "--json")
	var listed []eventRecord
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 3 {
		t.Errorf("--json: %s (%v)", out, err)
	}
	if _, _, err := runWebhook(t, srv, "events", "--status", "gone"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a bad filter: %v", err)
	}
}

func TestEventCommand(t *testing.T) {
	app, log, q := eventsFixture()
	log.records[1].Body = []byte{0xff, 0x00, 'a'}
	srv := eventsAdmin(t, app, q)
	out, _, err := runWebhook(t, srv, "event", "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"key:", log.records[0].Key, "mode:", "async", "http://xxxxx@hooks.internal/in",
		"Webhook-Signature: v1,sig", "AT", "DESTINATION", "503", "1.5ms", "retrying", "status 503", `{"id":"x"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("event does not show %q:\n%s", want, out)
		}
	}
	noCredentials(t, "event", out)

	out, _, err = runWebhook(t, srv, "event", "evt_2")
	if err != nil || !strings.Contains(out, "/wBh") || strings.Contains(out, "\x00") || strings.Contains(out, "AT ") {
		t.Errorf("a binary body, no attempts:\n%q (%v)", out, err)
	}
	out, _, err = runWebhook(t, srv, "event", "evt_2", "--body")
	if err != nil || out != "\xff\x00a" {
		t.Errorf("--body: %q (%v)", out, err)
	}
	if _, _, err := runWebhook(t, srv, "event", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown: %v", err)
	}
}

func TestReplayCommand(t *testing.T) {
	app, log, q := eventsFixture()
	srv := eventsAdmin(t, app, q)
	out, _, err := runWebhook(t, srv, "replay", "evt_1")
	if err != nil || out != "replayed "+log.records[0].Key+" (id evt_1) to http://xxxxx@hooks.internal/in\n" {
		t.Errorf("replay one: %q (%v)", out, err)
	}
	out, _, err = runWebhook(t, srv, "replay", "evt_2", "--to", plainHook)
	if err != nil || !strings.Contains(out, "(id evt_2) to "+plainHook) {
		t.Errorf("replay one --to: %q (%v)", out, err)
	}
	if _, _, err := runWebhook(t, srv, "replay", "evt_2"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("replay sync without --to: %v", err)
	}

	out, _, err = runWebhook(t, srv, "replay", "--since", "1d", "--dry-run")
	if err != nil || out != "matched: 3 (dry run: none replayed)\n" {
		t.Errorf("dry run: %q (%v)", out, err)
	}
	before := len(q.calls())
	out, _, err = runWebhook(t, srv, "replay", "--since", "1d", "--limit", "2")
	if err != nil || !strings.HasPrefix(out, "matched: 2\nreplayed: 1\nskipped "+log.records[1].Key+": ") ||
		len(q.calls()) != before+1 {
		t.Errorf("replay a selection: %q (%v)", out, err)
	}

	for _, args := range [][]string{
		{"replay"},
		{"replay", "--to", plainHook},
		{"replay", "evt_1", "--provider", "mux"},
		{"replay", "evt_1", "--dry-run"},
		{"replay", "evt_1", "evt_2"},
	} {
		if _, _, err := runWebhook(t, srv, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
