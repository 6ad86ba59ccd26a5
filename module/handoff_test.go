package webhookingress

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// otherHandler stands for any handler but webhook_forward (reverse_proxy).
type otherHandler struct{}

func (otherHandler) ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error {
	return nil
}

// withServer is r as srv hands it to its handlers.
func withServer(r *http.Request, srv *caddyhttp.Server) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv))
}

func TestForwardNext(t *testing.T) {
	v, f := new(Verify), new(Forward)
	route := func(hs ...caddyhttp.MiddlewareHandler) caddyhttp.Route { return caddyhttp.Route{Handlers: hs} }
	sub := func(routes ...caddyhttp.Route) *caddyhttp.Subroute { return &caddyhttp.Subroute{Routes: routes} }
	routes := func(rs ...caddyhttp.Route) *caddyhttp.Server { return &caddyhttp.Server{Routes: rs} }
	tests := []struct {
		name string
		srv  *caddyhttp.Server
		want bool
	}{
		{"next in its route", routes(route(v, f)), true},
		{"after other handlers", routes(route(new(Verify), otherHandler{}), route(otherHandler{}, v, f)), true},
		{"in a subroute", routes(route(otherHandler{}), route(sub(route(otherHandler{}), route(v, f)))), true},
		{"reverse_proxy next", routes(route(v, otherHandler{})), false},
		{"forward after another handler", routes(route(v, otherHandler{}, f)), false},
		// The next route may not match, so forward is not next for sure.
		{"forward first in the next route", routes(route(v), route(f)), false},
		{"forward after the subroute", routes(route(sub(route(v)), f)), false},
		{"last handler", routes(route(f, v)), false},
		{"another verify's forward", routes(route(new(Verify), f), route(v)), false},
		{"error routes", &caddyhttp.Server{Errors: &caddyhttp.HTTPErrorConfig{Routes: caddyhttp.RouteList{route(v, f)}}}, true},
		{"named route", &caddyhttp.Server{NamedRoutes: map[string]*caddyhttp.Route{"hooks": {Handlers: []caddyhttp.MiddlewareHandler{v, f}}}}, true},
		{"not in the server", routes(route(new(Verify), f)), false},
		{"no server", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tt.srv != nil {
				r = withServer(r, tt.srv)
			}
			var fn forwardNext
			if got := fn.get(r, v); got != tt.want {
				t.Errorf("forwardNext = %v, want %v", got, tt.want)
			}
		})
	}
}
