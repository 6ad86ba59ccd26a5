package webhookingress

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// A nonce kept for less than twice the tolerance expires while its signed
// request is still inside the window, so a replay then passes: such a
// replay_ttl is refused at config time, in the Caddyfile and in JSON.
func TestReplayTTLShorterThanTwiceTolerance(t *testing.T) {
	refused := []string{
		"webhook_verify stripe {\nsecret s\nreplay_ttl 9m\n}",                 // stripe: 300 s
		"webhook_verify stripe {\nsecret s\ntolerance 10m\nreplay_ttl 15m\n}", // set tolerance
		"webhook_verify linear {\nsecret s\nreplay_ttl 90s\n}",                // linear: 60 s
	}
	for _, in := range refused {
		var v Verify
		err := v.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), "replay_ttl") || !strings.Contains(err.Error(), "Testfile:1") {
			t.Errorf("%q: error %v, want one naming replay_ttl and the line", in, err)
		}
	}
	accepted := []string{
		"webhook_verify stripe {\nsecret s\nreplay_ttl 10m\n}",
		"webhook_verify stripe {\nsecret s\ntolerance 1m\nreplay_ttl 2m\n}",
		"webhook_verify stripe {\nsecret s\ntolerance 0\nreplay_ttl 1s\n}",
		"webhook_verify github {\nsecret s\nreplay_ttl 1s\n}", // no signed timestamp
		"webhook_verify stripe {\nsecret {env.S}\n}",
	}
	for _, in := range accepted {
		var v Verify
		if err := v.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}

	// JSON configs (and secrets resolved only at provision) meet Validate.
	for _, tt := range []struct {
		ttl  time.Duration
		ok   bool
		want string
	}{
		{9 * time.Minute, false, "set replay_ttl to 10m0s or more"},
		{10 * time.Minute, true, ""},
		{0, true, ""},
	} {
		vf, err := verify.New("stripe", verify.Options{Secrets: []string{"s"}})
		if err != nil {
			t.Fatal(err)
		}
		v := Verify{VerifyOptions: VerifyOptions{Provider: "stripe", ReplayTTL: caddy.Duration(tt.ttl)}, verifier: vf, dedupe: Dedupe{Mode: "id"}}
		err = v.Validate()
		if tt.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("replay_ttl %v: Validate = %v, want ok=%v mentioning %q", tt.ttl, err, tt.ok, tt.want)
		}
	}
}
