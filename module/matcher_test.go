package webhookingress

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"video.asset.ready", "video.asset.ready", true},
		{"video.asset.ready", "video.asset.ready2", false},
		{"video.asset.*", "video.asset.ready", true},
		{"video.asset.*", "video.asset.", true},
		{"video.asset.*", "video.assets", false},
		{"video.*.errored", "video.live_stream.errored", true},
		{"video.*.errored", "video.asset.errored.twice", false},
		{"*", "anything/at all", true},
		{"orders/*", "orders/create", true},
		{"*.failed", "render.failed", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"**", "", true},
		{"?", "?", true}, // no other wildcard: ? is itself
		{"?", "a", false},
		// Backtracking stays bounded on a hostile type.
		{strings.Repeat("*a", 100) + "b", strings.Repeat("a", 256), false},
	}
	for _, c := range cases {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func TestMatchEventCaddyfile(t *testing.T) {
	var m MatchEvent
	d := caddyfile.NewTestDispenser("webhook_event video.asset.* done\nwebhook_event failed")
	if err := m.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if want := (MatchEvent{"video.asset.*", "done", "failed"}); !slices.Equal(m, want) {
		t.Errorf("got %q, want %q", m, want)
	}
	for _, bad := range []string{"webhook_event", "webhook_event x {\n\ty\n}", "webhook_event " + strings.Repeat("x", maxEventPattern+1)} {
		var m MatchEvent
		if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMatchEventRequests(t *testing.T) {
	v, err := verify.New("mux", verify.Options{Secrets: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	m := MatchEvent{"video.asset.*"}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if m.Match(r) {
		t.Error("matched a request no webhook_verify passed on")
	}
	for body, want := range map[string]bool{
		`{"type":"video.asset.ready"}`:    true,
		`{"type":"video.upload.created"}`: false,
		`video.asset.ready`:               false,
		``:                                false,
	} {
		h := &handoff{lazyFields: lazyFields{verifier: v, req: &verify.Request{Body: []byte(body)}}}
		if got := m.Match(r.WithContext(context.WithValue(r.Context(), handoffKey{}, h))); got != want {
			t.Errorf("%q: matched %v, want %v", body, got, want)
		}
	}
}

func TestForwardEventsCaddyfile(t *testing.T) {
	var f Forward
	d := caddyfile.NewTestDispenser(`webhook_forward http://all {
		to http://pub http://pub2 {
			events video.asset.ready
			events done
		}
		to http://alerts {
			events *.errored
		}
		to http://archive
	}`)
	if err := f.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://all", "http://pub", "http://pub2", "http://alerts", "http://archive"}; !slices.Equal(f.Destinations, want) {
		t.Errorf("destinations %q", f.Destinations)
	}
	if err := f.provisionFilters(); err != nil {
		t.Fatal(err)
	}
	for event, want := range map[string][]string{
		"video.asset.ready": {"http://all", "http://pub", "http://pub2", "http://archive"},
		"done":              {"http://all", "http://pub", "http://pub2", "http://archive"},
		"x.errored":         {"http://all", "http://alerts", "http://archive"},
		"":                  {"http://all", "http://archive"},
	} {
		if got, _ := f.wanted(event); !slices.Equal(got, want) {
			t.Errorf("%q goes to %q, want %q", event, got, want)
		}
	}
	for _, bad := range []string{
		"webhook_forward {\n\tto http://a {\n\t\tevents\n\t}\n}",
		"webhook_forward {\n\tto http://a {\n\t\tretries 3\n\t}\n}",
	} {
		var f Forward
		if err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	f = Forward{Destinations: []string{"http://a"}, Events: map[string]MatchEvent{"http://b": {"x"}}}
	if err := f.provisionFilters(); err == nil {
		t.Error("events for a URL that is no destination: no error")
	}
}

func TestLazyFields(t *testing.T) {
	v, _ := verify.New("mux", verify.Options{Secrets: []string{"s"}})
	deep := strings.Repeat("a.", maxJSONSteps) + "b"
	body := `{"type":"video.asset.ready","data":{"status":"ready","n":12,"big":"` + strings.Repeat("x", maxJSONValue+1) + `"}}`
	l := &lazyFields{verifier: v, req: &verify.Request{Body: []byte(body)}}
	for key, want := range map[string]any{
		"http.webhook.event":            "video.asset.ready",
		"http.webhook.json.data.status": "ready",
		"http.webhook.json.data.n":      "12",
		"http.webhook.json.data":        "", // not a scalar
		"http.webhook.json.data.big":    "", // past maxJSONValue
		"http.webhook.json.missing":     "",
		"http.webhook.json.":            "",
		"http.webhook.json." + deep:     "",
	} {
		got, ok := l.placeholder(key)
		if !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"http.webhook.id", "http.request.uri", "http.webhook.other"} {
		if _, ok := l.placeholder(key); ok {
			t.Errorf("%s answered by the lazy provider", key)
		}
	}
	notJSON := &lazyFields{verifier: v, req: &verify.Request{Body: []byte("\x00{[")}}
	if got, _ := notJSON.placeholder("http.webhook.json.a.b"); got != "" {
		t.Errorf("not JSON: %q", got)
	}
	if got := new(lazyFields).eventType(); got != "" {
		t.Errorf("no verifier: %q", got)
	}
}

// TestRoutingCheck: a webhook_event matcher is refused where no
// webhook_verify can run before it.
func TestRoutingCheck(t *testing.T) {
	v := new(Verify)
	sub := func(routes ...caddyhttp.Route) caddyhttp.MiddlewareHandler {
		return &caddyhttp.Subroute{Routes: routes}
	}
	matched := func(m *MatchEvent, handlers ...caddyhttp.MiddlewareHandler) caddyhttp.Route {
		return caddyhttp.Route{MatcherSets: caddyhttp.MatcherSets{{m}}, Handlers: handlers}
	}
	cases := map[string]struct {
		routes func(m *MatchEvent) caddyhttp.RouteList
		ok     bool
	}{
		"after verify": {func(m *MatchEvent) caddyhttp.RouteList {
			return caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{v}}, matched(m)}
		}, true},
		"after a subroute holding verify": {func(m *MatchEvent) caddyhttp.RouteList {
			return caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{sub(caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{v}})}}, matched(m)}
		}, true},
		"in a subroute after verify": {func(m *MatchEvent) caddyhttp.RouteList {
			return caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{v, sub(matched(m))}}}
		}, true},
		"on verify's own route": {func(m *MatchEvent) caddyhttp.RouteList {
			return caddyhttp.RouteList{matched(m, v)}
		}, false},
		"before verify": {func(m *MatchEvent) caddyhttp.RouteList {
			return caddyhttp.RouteList{matched(m), {Handlers: []caddyhttp.MiddlewareHandler{v}}}
		}, false},
		"no verify": {func(m *MatchEvent) caddyhttp.RouteList {
			return caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{sub(matched(m))}}}
		}, false},
	}
	for name, c := range cases {
		m := &MatchEvent{"x"}
		rc := routingCheck{matchers: []*MatchEvent{m}}
		err := rc.checkServers(map[string]*caddyhttp.Server{"srv0": {Routes: c.routes(m)}})
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAnswerStatus: the status verify finishes a claim by is the final
// one, 200 when a body comes first, and 0 while nothing is answered.
func TestAnswerStatus(t *testing.T) {
	for name, c := range map[string]struct {
		answer func(w http.ResponseWriter)
		want   int
	}{
		"nothing":     {func(http.ResponseWriter) {}, 0},
		"status":      {func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, http.StatusBadGateway},
		"early hints": {func(w http.ResponseWriter) { w.WriteHeader(http.StatusEarlyHints); w.WriteHeader(http.StatusCreated) }, http.StatusCreated},
		"body":        {func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		"copied body": {func(w http.ResponseWriter) { _, _ = io.Copy(w, strings.NewReader("x")) }, http.StatusOK},
	} {
		a := &answerStatus{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: httptest.NewRecorder()}}
		c.answer(a)
		if a.status != c.want {
			t.Errorf("%s: status %d, want %d", name, a.status, c.want)
		}
	}
}
