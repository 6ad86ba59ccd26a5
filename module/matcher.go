package webhookingress

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(new(MatchEvent))
}

// MatchEvent is the `webhook_event` request matcher: it matches a request
// that a webhook_verify earlier in the route verified and whose event type
// ({http.webhook.event}) matches one of its patterns. In a pattern `*`
// stands for any run of characters, dots and slashes included
// (`video.asset.*`, `orders/*`, `*`); every other character stands for
// itself. A request no webhook_verify passed on, or whose sender names no
// type, matches no pattern.
type MatchEvent []string

// CaddyModule returns the Caddy module information.
func (*MatchEvent) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.webhook_event",
		New: func() caddy.Module { return new(MatchEvent) },
	}
}

// Provision checks the patterns and enlists the matcher for the check, when
// the config starts, that a webhook_verify runs before it.
func (m *MatchEvent) Provision(ctx caddy.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	app, err := ctx.App("webhook_ingress")
	if err != nil {
		return err
	}
	app.(*App).routing.enlist(ctx, m)
	return nil
}

func (m MatchEvent) check() error {
	if len(m) == 0 {
		return fmt.Errorf("webhook_event needs at least one event type pattern")
	}
	for _, p := range m {
		if p == "" || len(p) > maxEventPattern {
			return fmt.Errorf("webhook_event pattern %q must be 1 to %d bytes", p, maxEventPattern)
		}
	}
	return nil
}

// maxEventPattern bounds a pattern as the verifier bounds an event type.
const maxEventPattern = 256

// Match implements caddyhttp.RequestMatcher.
func (m MatchEvent) Match(r *http.Request) bool {
	h := handoffFrom(r)
	return h != nil && m.matches(h.eventType())
}

// MatchWithError implements caddyhttp.RequestMatcherWithError.
func (m MatchEvent) MatchWithError(r *http.Request) (bool, error) { return m.Match(r), nil }

func (m MatchEvent) matches(event string) bool {
	if event == "" {
		return false
	}
	for _, p := range m {
		if globMatch(p, event) {
			return true
		}
	}
	return false
}

// globMatch reports whether s matches pattern, where `*` is any run of
// bytes. On a mismatch it resumes after the last `*` one byte further on,
// so a match costs at most len(pattern)*len(s) steps, both bounded.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, resume := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, resume = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			resume++
			p, i = star+1, resume
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// UnmarshalCaddyfile sets up the matcher; repeated lines add patterns:
//
//	@name webhook_event <pattern>...
func (m *MatchEvent) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*m = append(*m, args...)
		if d.NextBlock(0) {
			return d.Err("webhook_event takes no block")
		}
	}
	if err := m.check(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// CELLibrary makes the matcher a function of Caddy's expression matcher:
//
//	expression webhook_event('video.asset.*') && {http.webhook.json.data.status} == 'ready'
func (*MatchEvent) CELLibrary(ctx caddy.Context) (cel.Library, error) {
	return caddyhttp.CELMatcherImpl(
		"webhook_event",
		"webhook_event_match_request_list",
		[]*cel.Type{cel.ListType(cel.StringType)},
		func(data ref.Val) (caddyhttp.RequestMatcherWithError, error) {
			list, err := data.ConvertToNative(celStringList)
			if err != nil {
				return nil, err
			}
			m := MatchEvent(list.([]string))
			return m, m.check()
		},
	)
}

var celStringList = reflect.TypeOf([]string(nil))

// routingCheck refuses, when the config starts, a webhook_event matcher
// that can never see a verified request: one that no webhook_verify runs
// before in any server (it runs in the same route as the only one, where
// matchers are evaluated before the handlers, or before it).
type routingCheck struct {
	ctx      caddy.Context // the config's, to find its http app
	matchers []*MatchEvent
}

func (rc *routingCheck) enlist(ctx caddy.Context, m *MatchEvent) {
	rc.ctx = ctx
	rc.matchers = append(rc.matchers, m)
}

// check walks the servers' routes in the order a request meets them. A
// matcher it does not find there (in error routes, say) is not judged.
func (rc *routingCheck) check() error {
	if len(rc.matchers) == 0 {
		return nil
	}
	app, err := rc.ctx.AppIfConfigured("http")
	if err != nil {
		return nil // matchers outside an http app are not judged
	}
	return rc.checkServers(app.(*caddyhttp.App).Servers)
}

func (rc *routingCheck) checkServers(servers map[string]*caddyhttp.Server) error {
	blind := make(map[*MatchEvent]string)
	for name, srv := range servers {
		walkVerified(srv.Routes, false, func(m *MatchEvent, verified bool) {
			if !verified {
				blind[m] = name
			}
		})
	}
	for _, m := range rc.matchers {
		if srv, ok := blind[m]; ok {
			return fmt.Errorf("webhook_event %s in server %s can never see a verified request: "+
				"webhook_verify must run before the routes that match on the event (see docs/routing.md)",
				strings.Join(*m, " "), srv)
		}
	}
	return nil
}

// walkVerified calls found for every webhook_event matcher of routes, with
// whether a webhook_verify comes before it (verified: one did before these
// routes), and returns whether one comes before what follows routes.
func walkVerified(routes caddyhttp.RouteList, verified bool, found func(*MatchEvent, bool)) bool {
	for _, route := range routes {
		for _, set := range route.MatcherSets {
			for _, m := range set {
				if me, ok := m.(*MatchEvent); ok {
					found(me, verified)
				}
			}
		}
		after := verified
		for _, h := range route.Handlers {
			switch h := h.(type) {
			case *Verify:
				after = true
			case *caddyhttp.Subroute:
				after = walkVerified(h.Routes, after, found)
			}
		}
		// A verify in a route a request may skip still counts: which
		// routes match is known only per request.
		verified = after
	}
	return verified
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchEvent)(nil)
	_ caddyhttp.RequestMatcherWithError = MatchEvent(nil)
	_ caddyhttp.CELLibraryProducer      = (*MatchEvent)(nil)
	_ caddyfile.Unmarshaler             = (*MatchEvent)(nil)
)
