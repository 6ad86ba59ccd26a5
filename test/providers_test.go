package test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

const presetSecret = standardSecret // a whsec_ key is also a valid raw secret

// presetNeeds are the options a provider cannot go without, beyond a
// secret: what verify.New asks for when they are missing.
var presetNeeds = map[string]struct {
	opts  verify.Options
	lines string // the same options as subdirectives
}{
	"basic":    {verify.Options{Secrets: []string{"hooks:pa55-w0rd"}}, ""},
	"postmark": {verify.Options{Secrets: []string{"hooks:pa55-w0rd"}}, ""},
	"hmac":     {verify.Options{Header: "X-Signature"}, "header X-Signature"},
	"token":    {verify.Options{Header: "X-Webhook-Token"}, "header X-Webhook-Token"},
	"livekit":  {verify.Options{KeyID: "APIkq2Tb3nL9"}, "api_key APIkq2Tb3nL9"},
}

// presetRoute is one provider's route and how to sign for it.
type presetRoute struct {
	provider string
	opts     verify.Options
	// bodySigned is false for schemes that carry a credential, not a
	// signature of the body (token, basic).
	bodySigned bool
}

// signablePresets lists every provider verify.Sign can sign for.
func signablePresets(t *testing.T) []presetRoute {
	t.Helper()
	schemes := map[string]string{}
	for _, d := range verify.PresetDocs() {
		schemes[d.Provider] = d.Scheme
	}
	var routes []presetRoute
	for _, p := range verify.Providers() {
		opts := presetNeeds[p].opts
		if opts.Secrets == nil {
			opts.Secrets = []string{presetSecret}
		}
		now := time.Now().UnixMilli()
		probe := fmt.Sprintf(`{"id":"x","webhookTimestamp":%d,"timestamp":%d}`, now, now)
		_, _, err := verify.Sign(p, opts, verify.SignRequest{URL: "http://127.0.0.1/" + p, Body: []byte(probe)})
		if errors.Is(err, verify.ErrSignUnsupported) {
			continue
		}
		if err != nil {
			t.Fatalf("verify.Sign(%s): %v", p, err)
		}
		s := schemes[p]
		routes = append(routes, presetRoute{p, opts, !strings.HasPrefix(s, "shared token") && s != "HTTP basic auth"})
	}
	return routes
}

// presetsConfig has one route per provider, each in front of the backend.
// Square and Twilio sign the URL: `url` is the one the gateway is reached at.
func presetsConfig(routes []presetRoute) string {
	var b strings.Builder
	b.WriteString("{\n\tadmin localhost:{{.Admin}}\n\thttp_port {{.HTTP}}\n\tpersist_config off\n}\n:{{.HTTP}} {\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "\thandle /%s {\n\t\twebhook_verify %s {\n\t\t\tsecret %q\n", r.provider, r.provider, r.opts.Secrets[0])
		if lines := presetNeeds[r.provider].lines; lines != "" {
			fmt.Fprintf(&b, "\t\t\t%s\n", lines)
		}
		if r.provider == "square" || r.provider == "twilio" {
			fmt.Fprintf(&b, "\t\t\turl http://127.0.0.1:{{.HTTP}}/%s\n", r.provider)
		}
		b.WriteString("\t\t}\n\t\treverse_proxy {{.Backend}}\n\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func TestPresetsThroughCaddy(t *testing.T) {
	routes := signablePresets(t)
	if len(routes) < 30 {
		t.Fatalf("only %d signable presets", len(routes))
	}
	be := newBackend(t)
	g := newGateway(t, presetsConfig(routes), gatewayVars{Backend: be.URL})
	g.Start()

	signed := func(t *testing.T, r presetRoute, opts verify.Options, body []byte) (http.Header, string) {
		t.Helper()
		h, u, err := verify.Sign(r.provider, opts, verify.SignRequest{
			URL: g.URL("/" + r.provider), Body: body,
			Header: http.Header{"Content-Type": {"application/json"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return h, u
	}

	for _, r := range routes {
		t.Run(r.provider, func(t *testing.T) {
			// Bytes a re-encoder would change; unique per route, so that
			// no route deduplicates another's. Linear and Livepeer sign
			// their timestamp in the body.
			now := time.Now().UnixMilli()
			body := []byte(fmt.Sprintf("{\"id\": \"evt_%s\",  \"event_id\":\"evt_%s\", \"type\":\"test\", \"n\":\"\\u00e9\", \"webhookTimestamp\":%d, \"timestamp\":%d}\r\n",
				r.provider, r.provider, now, now))
			h, u := signed(t, r, r.opts, body)
			got := send(t, http.MethodPost, u, h, body)
			if got.Status < 200 || got.Status > 299 {
				t.Fatalf("signed request: %d %q\nheaders %v, url %s", got.Status, got.Body, h, u)
			}
			var at *recorded
			for _, rec := range be.Requests() {
				if rec.Path == "/"+r.provider {
					at = &rec
				}
			}
			if at == nil {
				t.Fatal("the signed request did not reach the backend")
			}
			if !bytes.Equal(at.Body, body) {
				t.Errorf("body changed on the way: %q, want %q", at.Body, body)
			}
			if p := at.Header.Get("Webhook-Provider"); p != r.provider {
				t.Errorf("Webhook-Provider = %q", p)
			}

			if r.bodySigned {
				tampered := bytes.Replace(body, []byte("test"), []byte("tost"), 1)
				h, u := signed(t, r, r.opts, body)
				wantUnauthorized(t, "tampered body", send(t, http.MethodPost, u, h, tampered))
			}
			wrong := r.opts
			wrong.Secrets = []string{wrongSecret(r.opts.Secrets[0])}
			h, u = signed(t, r, wrong, append(body, ' '))
			wantUnauthorized(t, "signed with another secret", send(t, http.MethodPost, u, h, append(body, ' ')))
		})
	}
	if n := len(be.Requests()); n != len(routes) {
		t.Errorf("backend got %d requests, want one per route (%d)", n, len(routes))
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}

// wrongSecret is a secret of the same shape (whsec_ base64, user:password)
// that is not s.
func wrongSecret(s string) string {
	if strings.HasPrefix(s, "whsec_") {
		return "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	}
	return "x" + s
}
