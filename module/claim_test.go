package webhookingress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// claimOf verifies a request signed for provider and returns its claim, as
// webhook_verify builds it.
func claimOf(t *testing.T, provider string, dedupe Dedupe, header http.Header, body []byte) (key, nonce string, ttl time.Duration, ok bool) {
	t.Helper()
	opts := verify.Options{Secrets: []string{"claim-test-secret"}}
	if provider == "standard" {
		opts.Secrets = []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	}
	signed, _, err := verify.Sign(provider, opts, verify.SignRequest{URL: "https://hooks.example.com/x", Body: body, Header: header})
	if err != nil {
		t.Fatal(err)
	}
	vf, err := verify.New(provider, opts)
	if err != nil {
		t.Fatal(err)
	}
	if dedupe.Window == 0 {
		dedupe.Window = caddy.Duration(defaultDedupWindow)
	}
	v := &Verify{VerifyOptions: VerifyOptions{Provider: provider, Scope: "test"}, verifier: vf, dedupe: dedupe, replayTTL: 2 * vf.Tolerance()}
	if v.replayTTL == 0 {
		v.replayTTL = defaultDedupWindow
	}
	r := httptest.NewRequest(http.MethodPost, "https://hooks.example.com/x", nil)
	r.Header = signed
	res, err := vf.Verify(&verify.Request{Method: http.MethodPost, URL: "https://hooks.example.com/x", Header: signed, Body: body})
	if err != nil {
		t.Fatalf("%s: %v", provider, err)
	}
	id := res.ID
	if id == "" {
		id = bodyHash(body)
	}
	c, err := v.claimFor(r, res, id, body)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		return "", "", 0, false
	}
	if c.Scope != "test" {
		t.Errorf("scope %q, want the configured one", c.Scope)
	}
	return c.Key, c.Nonce, c.TTL, true
}

// Every claim key comes from what the signature covers: an unsigned id
// never names the claim.
func TestClaimKeyFromSignedBytes(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	idDedupe := Dedupe{Mode: "id"}

	key1, nonce, _, _ := claimOf(t, "github", idDedupe, http.Header{"X-Github-Delivery": {"delivery-1"}}, body)
	key2, _, _, _ := claimOf(t, "github", idDedupe, http.Header{"X-Github-Delivery": {"delivery-2"}}, body)
	if !strings.HasPrefix(key1, "body:") || key1 != key2 || nonce != "" {
		t.Errorf("github: keys %q and %q, nonce %q; want one body digest whatever the delivery id, no nonce", key1, key2, nonce)
	}

	key, nonce, ttl, _ := claimOf(t, "standard", idDedupe, http.Header{"Webhook-Id": {"msg_1"}}, body)
	if key != "id:msg_1" || nonce == "" || ttl != defaultDedupWindow {
		t.Errorf("standard: key %q, nonce %q, ttl %v; want the signed id, a nonce, the dedup window", key, nonce, ttl)
	}
	key, _, _, _ = claimOf(t, "stripe", idDedupe, nil, body)
	if key != "id:evt_1" {
		t.Errorf("stripe: key %q, want the signed body id", key)
	}

	// A shared token vouches for the whole request, its id header too.
	key, _, _, _ = claimOf(t, "gitlab", idDedupe, http.Header{"Idempotency-Key": {"job-7"}}, body)
	if key != "id:job-7" {
		t.Errorf("gitlab: key %q, want its id header", key)
	}

	// Replay protection alone: the nonce is the key, for replay_ttl.
	key, nonce, ttl, _ = claimOf(t, "standard", Dedupe{Mode: "off"}, http.Header{"Webhook-Id": {"msg_2"}}, body)
	if key != "n:"+nonce || ttl != 10*time.Minute {
		t.Errorf("standard, dedupe off: key %q ttl %v, want the nonce for twice the tolerance", key, ttl)
	}
	if _, _, _, ok := claimOf(t, "github", Dedupe{Mode: "off"}, nil, body); ok {
		t.Error("github, dedupe off: a claim without anything to claim")
	}
	// A long value from the sender is bounded in the key.
	long := strings.Repeat("x", 10_000)
	key, _, _, _ = claimOf(t, "standard", idDedupe, http.Header{"Webhook-Id": {long}}, body)
	if len(key) > 3+maxKeyPart {
		t.Errorf("a %d-byte id made a %d-byte key", len(long), len(key))
	}
}

func TestDedupeMustBeSigned(t *testing.T) {
	vf := func(provider string) *verify.Verifier {
		o := verify.Options{Secrets: []string{"s"}}
		if provider == "token" {
			o.Header = "X-Token"
		}
		v, err := verify.New(provider, o)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := checkDedupeSigned(Dedupe{Mode: "header", Arg: "X-GitHub-Delivery"}, vf("github")); err == nil || !strings.Contains(err.Error(), "use dedupe id, body or json") {
		t.Errorf("dedupe header on github: %v, want refused with the fix", err)
	}
	if err := checkDedupeSigned(Dedupe{Mode: "header", Arg: "X-Job-Id"}, vf("token")); err != nil {
		t.Errorf("dedupe header on token: %v", err)
	}
	if err := checkDedupeSigned(Dedupe{Mode: "json", Arg: "data.id"}, vf("stripe")); err != nil {
		t.Errorf("dedupe json on stripe: %v", err)
	}
	if err := checkDedupeSigned(Dedupe{Mode: "json", Arg: "event-data.id"}, vf("mailgun")); err == nil {
		t.Error("dedupe json on mailgun, whose body is not signed: accepted")
	}
}

func TestScopeTag(t *testing.T) {
	for name, plain := range map[string]bool{
		"stripe@hooks.example.com/stripe":  true,
		"renders":                          true,
		"has space":                        false,
		"{slot}":                           false,
		strings.Repeat("a", maxScopeTag+1): false,
		"":                                 false,
	} {
		got := scopeTag(name)
		if plain && got != name {
			t.Errorf("scopeTag(%q) = %q, want it unchanged", name, got)
		}
		if !plain && (!strings.HasPrefix(got, "h:") || len(got) != 34) {
			t.Errorf("scopeTag(%q) = %q, want a digest", name, got)
		}
	}
}
