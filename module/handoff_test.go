package webhookingress

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// otherHandler stands for any handler but webhook_forward (reverse_proxy).
type otherHandler struct{}

func (otherHandler) ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error {
	return nil
}

func TestForwardFollows(t *testing.T) {
	v, f := new(Verify), new(Forward)
	route := func(hs ...caddyhttp.MiddlewareHandler) caddyhttp.Route { return caddyhttp.Route{Handlers: hs} }
	sub := func(routes ...caddyhttp.Route) *caddyhttp.Subroute { return &caddyhttp.Subroute{Routes: routes} }
	tests := []struct {
		name   string
		parent any
		want   bool
	}{
		{"next in its route", sub(route(v, f)), true},
		{"after other handlers", sub(route(new(Verify), otherHandler{}), route(otherHandler{}, v, f)), true},
		{"reverse_proxy next", sub(route(v, otherHandler{})), false},
		{"forward after another handler", sub(route(v, otherHandler{}, f)), false},
		// The next route may not match, so forward is not next for sure.
		{"forward first in the next route", sub(route(v), route(f)), false},
		{"last handler", sub(route(f, v)), false},
		{"another verify's forward", sub(route(new(Verify), f), route(v)), false},
		{"error routes", &caddyhttp.Subroute{Errors: &caddyhttp.HTTPErrorConfig{Routes: caddyhttp.RouteList{route(v, f)}}}, true},
		{"server routes", &caddyhttp.App{Servers: map[string]*caddyhttp.Server{
			"a": {Routes: caddyhttp.RouteList{route(otherHandler{})}},
			"b": {Routes: caddyhttp.RouteList{route(v, f)}},
		}}, true},
		{"named route", &caddyhttp.App{Servers: map[string]*caddyhttp.Server{
			"a": {NamedRoutes: map[string]*caddyhttp.Route{"hooks": {Handlers: []caddyhttp.MiddlewareHandler{v, f}}}},
		}}, true},
		{"server error routes", &caddyhttp.App{Servers: map[string]*caddyhttp.Server{
			"a": {Errors: &caddyhttp.HTTPErrorConfig{Routes: caddyhttp.RouteList{route(v, otherHandler{})}}},
		}}, false},
		{"other parent", otherHandler{}, false},
		{"no parent", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, _ := tt.parent.(caddy.Module)
			if got := forwardFollows(parent, v); got != tt.want {
				t.Errorf("forwardFollows = %v, want %v", got, tt.want)
			}
		})
	}
}
