package webhookingress

import (
	"io"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkServeHTTPRoute is BenchmarkServeHTTPNoStore's request through a
// route with one webhook_event matcher after webhook_verify: set against
// "verify" there, it is what a route costs. "header" reads the event type
// from a header, as GitHub's; "json" from the JSON body, as Mux's and
// Stripe's, here through {http.webhook.json.type} (one parse of the body).
func BenchmarkServeHTTPRoute(b *testing.B) {
	ns := newNoStore(b)
	ns.hdr.Set("X-GitHub-Event", "render.completed")
	m := MatchEvent{"render.*"}
	route := func(match func(r *http.Request) bool) caddyhttp.Handler {
		return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if !match(r) {
				b.Fatal("the route did not match")
			}
			_, err := io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			return err
		})
	}
	b.Run("header", func(b *testing.B) {
		ns.next = route(m.Match)
		b.ReportAllocs()
		for b.Loop() {
			ns.serve(b)
		}
	})
	b.Run("json", func(b *testing.B) {
		ns.next = route(func(r *http.Request) bool {
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			event, _ := repl.GetString("http.webhook.json.type")
			return m.matches(event)
		})
		b.ReportAllocs()
		for b.Loop() {
			ns.serve(b)
		}
	})
}
