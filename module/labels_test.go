package webhookingress

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The route label comes from the configuration: the handler's name, else
// the matchers that lead to it. What the client sends changes nothing.
func TestRouteLabelFromConfig(t *testing.T) {
	v := &Verify{VerifyOptions: VerifyOptions{Provider: "standard"}}
	host := caddyhttp.MatchHost{"hooks.example.com"}
	mux, other := caddyhttp.MatchPath{"/mux"}, caddyhttp.MatchPath{"/other"}
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{
		{MatcherSets: caddyhttp.MatcherSets{{&host}}, Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{
			Routes: caddyhttp.RouteList{
				{MatcherSets: caddyhttp.MatcherSets{{&other}}, Handlers: []caddyhttp.MiddlewareHandler{new(Verify)}},
				{MatcherSets: caddyhttp.MatcherSets{{&mux}}, Handlers: []caddyhttp.MiddlewareHandler{otherHandler{}, v}},
			},
		}}},
	}}
	if got := configuredRoute(srv, v); got != "hooks.example.com/mux" {
		t.Errorf("configuredRoute = %q, want hooks.example.com/mux", got)
	}
	if got := configuredRoute(srv, new(Verify)); got != srv.Name() {
		t.Errorf("a handler outside the routes: %q, want the server's name", got)
	}

	request := func(host, path string) *http.Request {
		r := httptest.NewRequest("POST", "http://x"+path, nil)
		r.Host = host
		return r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv))
	}
	before := series()
	for i := range 200 {
		v.count(request(strings.Repeat("h", 1000)+strconv.Itoa(i), "/spray/"+strconv.Itoa(i)), "invalid_signature")
	}
	if n := series() - before; n != 1 {
		t.Errorf("200 requests with distinct hosts and paths made %d series, want 1", n)
	}
	if got := requests(requestsTotal.WithLabelValues("hooks.example.com/mux", "standard", "invalid_signature")); got != 200 {
		t.Errorf("requests under the configured route: %v, want 200", got)
	}

	named := &Verify{VerifyOptions: VerifyOptions{Provider: "standard", Name: "mux-assets"}}
	named.count(request("evil.example", "/x"), "passed")
	if got := requests(requestsTotal.WithLabelValues("mux-assets", "standard", "passed")); got != 1 {
		t.Errorf("named handler: %v requests under its name, want 1", got)
	}
}

func TestUnmarshalVerifyName(t *testing.T) {
	var v Verify
	d := caddyfile.NewTestDispenser("webhook_verify github {\nsecret a\nname github-app\n}")
	if err := v.UnmarshalCaddyfile(d); err != nil || v.Name != "github-app" {
		t.Errorf("name: %q, %v", v.Name, err)
	}
	err := new(Verify).UnmarshalCaddyfile(caddyfile.NewTestDispenser("webhook_verify github {\nsecret a\nname\n}"))
	if err == nil {
		t.Error("name without a value accepted")
	}
}

// Log lines carry a bounded part of the request: host and path are clipped,
// on a UTF-8 boundary.
func TestRequestRouteClipped(t *testing.T) {
	r := httptest.NewRequest("POST", "http://x/"+strings.Repeat("p", 5000), nil)
	r.Host = strings.Repeat("h", 19000)
	got := requestRoute(r)
	if len(got) > maxLoggedHost+maxLoggedPath+2*len("...") {
		t.Errorf("logged route is %d bytes", len(got))
	}
	if !strings.HasPrefix(got, strings.Repeat("h", maxLoggedHost)+"...") {
		t.Errorf("host not clipped at %d: %.300q", maxLoggedHost, got)
	}
	if c := clip("ab€", 3); c != "ab..." {
		t.Errorf("clip cut inside a rune: %q", c)
	}
	if c := clip("short", 10); c != "short" {
		t.Errorf("clip changed a short string: %q", c)
	}
}

func series() int {
	ch := make(chan prometheus.Metric, 1024)
	requestsTotal.Collect(ch)
	return len(ch)
}

func requests(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
