package test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

const sdkSecret = "test_secret"

// sdkConfig has a route per provider whose npm package the tests run;
// telnyx's public key is filled in per test.
const sdkConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /sanity {
		webhook_verify sanity {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /workos {
		webhook_verify workos {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /replicate {
		webhook_verify replicate {
			secret ` + standardSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /razorpay {
		webhook_verify razorpay {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /box {
		webhook_verify box {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /coinbase-commerce {
		webhook_verify coinbase-commerce {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /customerio {
		webhook_verify customerio {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /webflow {
		webhook_verify webflow {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /whatsapp {
		webhook_verify whatsapp {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /instagram {
		webhook_verify instagram {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /threads {
		webhook_verify threads {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /hygraph {
		webhook_verify hygraph {
			secret ` + sdkSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /braintree {
		webhook_verify braintree {
			api_key bt-public-key
			secret bt-private-key
		}
		reverse_proxy {{.Backend}}
	}
	handle /telnyx {
		webhook_verify telnyx {
			public_key %s
		}
		reverse_proxy {{.Backend}}
	}
}`

// TestProvidersSDK proves presets added after the first fifty against the
// providers' own npm packages, through the built gateway: requests signed
// by the package are accepted (Sanity, WorkOS, Hygraph; Braintree, whose
// URL challenge is answered as its SDK answers it; WhatsApp, Instagram and
// Threads, signed with Meta's WhatsApp SDK), and requests the gateway
// accepts are accepted by the package's verifier too (Replicate, Razorpay,
// Coinbase Commerce, Customer.io, Webflow, Box, Hygraph, Telnyx, whose
// signature needs its private key and is made with Go's ed25519).
func TestProvidersSDK(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	telnyxKey := base64.StdEncoding.EncodeToString(pub)
	be := newBackend(t)
	g := newGateway(t, fmt.Sprintf(sdkConfig, telnyxKey), gatewayVars{Backend: be.URL})
	g.Start()

	accepted := func(t *testing.T, path string, h map[string]string, body []byte) {
		t.Helper()
		if status, resp, _ := post(t, g.URL(path), h, body); status != http.StatusOK {
			t.Fatalf("signed request: %d %s (headers %v)", status, resp, h)
		}
		if status, _, _ := post(t, g.URL(path), h, append(body, ' ')); status != http.StatusUnauthorized {
			t.Errorf("tampered body: %d, want 401", status)
		}
	}
	idOf := func(t *testing.T, path string) string {
		t.Helper()
		for _, rec := range be.Requests() {
			if rec.Path == path {
				return rec.Header.Get("Webhook-Id")
			}
		}
		t.Fatalf("nothing reached the backend on %s", path)
		return ""
	}

	t.Run("sanity signs", func(t *testing.T) {
		body := []byte(`{"_id":"doc-1","_type":"post"}`)
		h := npmSign(t, "sanity", sdkSecret, "idem-sanity-1", time.Now().UnixMilli(), body)
		accepted(t, "/sanity", h, body)
		if id := idOf(t, "/sanity"); id != "idem-sanity-1" {
			t.Errorf("Webhook-Id = %q, want the idempotency-key", id)
		}
		stale := npmSign(t, "sanity", sdkSecret, "idem-sanity-2", time.Now().Add(-10*time.Minute).UnixMilli(), body)
		if status, _, _ := post(t, g.URL("/sanity"), stale, body); status != http.StatusUnauthorized {
			t.Errorf("signed 10 min ago: %d, want 401", status)
		}
	})
	t.Run("workos signs", func(t *testing.T) {
		// The SDK signs JSON.stringify of the parsed event: compact JSON.
		body := []byte(`{"id":"event_01","event":"dsync.user.created","data":{}}`)
		h := npmSign(t, "workos", sdkSecret, "", time.Now().UnixMilli(), body)
		accepted(t, "/workos", h, body)
		if id := idOf(t, "/workos"); id != "event_01" {
			t.Errorf("Webhook-Id = %q, want the event id", id)
		}
		wrong := npmSign(t, "workos", "x"+sdkSecret, "", time.Now().UnixMilli(), body)
		if status, _, _ := post(t, g.URL("/workos"), wrong, body); status != http.StatusUnauthorized {
			t.Errorf("signed with another secret: %d, want 401", status)
		}
	})

	t.Run("meta's whatsapp sdk signs", func(t *testing.T) {
		body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102","changes":[{"field":"messages","value":{}}]}]}`)
		for _, p := range []string{"whatsapp", "instagram", "threads"} {
			accepted(t, "/"+p, npmSign(t, p, sdkSecret, "", 0, body), body)
		}
		wrong := npmSign(t, "whatsapp", "x"+sdkSecret, "", 0, body)
		if status, _, _ := post(t, g.URL("/whatsapp"), wrong, body); status != http.StatusUnauthorized {
			t.Errorf("signed with another app secret: %d, want 401", status)
		}
	})

	t.Run("hygraph signs and verifies", func(t *testing.T) {
		body := []byte(`{"operation":"publish","data":{"id":"ck1","title":"<b>été</b>\u2028"}}`)
		h := npmSign(t, "hygraph", sdkSecret, "", 0, body)
		accepted(t, "/hygraph", h, body)
		// What JSON.stringify leaves as is and what it escapes.
		raw := []byte("{\"n\":\"\u2028<\\n>\u00e9\"}\n")
		ours, _, err := verify.Sign("hygraph", verify.Options{Secrets: []string{sdkSecret}}, verify.SignRequest{Body: raw})
		if err != nil {
			t.Fatal(err)
		}
		if !npmVerify(t, "hygraph", sdkSecret, ours, raw) {
			t.Error("@hygraph/utils refuses what Sign made")
		}
	})

	t.Run("braintree signs and answers its challenge", func(t *testing.T) {
		fields := npmSign(t, "braintree", "bt-private-key", "bt-public-key", 0, nil)
		form := url.Values{"bt_signature": {fields["bt_signature"]}, "bt_payload": {fields["bt_payload"]}}
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		accepted(t, "/braintree", h, []byte(form.Encode()))
		form.Set("bt_payload", "AAAA"+fields["bt_payload"])
		if status, _, _ := post(t, g.URL("/braintree"), h, []byte(form.Encode())); status != http.StatusUnauthorized {
			t.Errorf("another payload: %d, want 401", status)
		}
		const challenge = "5b7c1d2e3f4a5b6c7d8e9f00"
		want := npmSign(t, "braintree-challenge", "bt-private-key", "bt-public-key", 0, []byte(challenge))["answer"]
		if got := send(t, http.MethodGet, g.URL("/braintree?bt_challenge="+challenge), nil, nil); got.Status != http.StatusOK || got.Body != want {
			t.Errorf("challenge: %d %q, want the SDK's %q", got.Status, got.Body, want)
		}
	})

	// verifiedBoth posts a request the gateway must accept and asks the
	// provider's package whether it accepts the same bytes.
	verifiedBoth := func(t *testing.T, provider, secret string, h http.Header, body []byte) {
		t.Helper()
		flat := map[string]string{}
		for k := range h {
			flat[k] = h.Get(k)
		}
		accepted(t, "/"+provider, flat, body)
		if !npmVerify(t, provider, secret, h, body) {
			t.Errorf("%s's npm package refuses the request the gateway accepted", provider)
		}
		if npmVerify(t, provider, secret, h, append(body, ' ')) {
			t.Errorf("%s's npm package accepts a tampered body", provider)
		}
	}
	for _, c := range []struct{ provider, secret string }{
		{"replicate", standardSecret}, {"razorpay", sdkSecret},
		{"coinbase-commerce", sdkSecret}, {"customerio", sdkSecret}, {"webflow", sdkSecret},
	} {
		t.Run(c.provider+" verifies", func(t *testing.T) {
			body := []byte(`{"id":"` + c.provider + `-1","status":"succeeded","event":"payment.captured"}`)
			h, _, err := verify.Sign(c.provider, verify.Options{Secrets: []string{c.secret}},
				verify.SignRequest{Body: body, Header: http.Header{"X-Razorpay-Event-Id": {"ev-" + c.provider}}})
			if err != nil {
				t.Fatal(err)
			}
			verifiedBoth(t, c.provider, c.secret, h, body)
		})
	}
	t.Run("box verifies", func(t *testing.T) {
		// The SDK checks only signatures of version 1 with HmacSHA256, which
		// Box names in headers the gateway passes on unread.
		signed := func(at time.Time, body []byte) http.Header {
			h, _, err := verify.Sign("box", verify.Options{Secrets: []string{sdkSecret}}, verify.SignRequest{
				Body: body, Now: at, ID: "box-delivery-1",
				Header: http.Header{"Box-Signature-Version": {"1"}, "Box-Signature-Algorithm": {"HmacSHA256"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		body := []byte(`{"type":"webhook_event","id":"evt-1","trigger":"FILE.UPLOADED"}`)
		// The SDK refuses a delivery time ahead of its clock by any amount.
		verifiedBoth(t, "box", sdkSecret, signed(time.Now().Add(-time.Second), body), body)
		stale := signed(time.Now().Add(-11*time.Minute), body)
		if got := send(t, http.MethodPost, g.URL("/box"), stale, body); got.Status != http.StatusUnauthorized {
			t.Errorf("delivered 11 min ago: %d, want 401", got.Status)
		}
		if npmVerify(t, "box", sdkSecret, stale, body) {
			t.Error("box-node-sdk accepts a delivery 11 min old")
		}
	})
	t.Run("telnyx verifies", func(t *testing.T) {
		signed := func(at time.Time, body []byte) http.Header {
			ts := strconv.FormatInt(at.Unix(), 10)
			sig := ed25519.Sign(priv, []byte(ts+"|"+string(body)))
			return http.Header{"Telnyx-Signature-Ed25519": {base64.StdEncoding.EncodeToString(sig)}, "Telnyx-Timestamp": {ts}}
		}
		body := []byte(`{"data":{"id":"tx-evt-1","event_type":"call.initiated"}}`)
		verifiedBoth(t, "telnyx", telnyxKey, signed(time.Now(), body), body)
		if id := idOf(t, "/telnyx"); id != "tx-evt-1" {
			t.Errorf("Webhook-Id = %q, want data.id", id)
		}
		for _, at := range []time.Time{time.Now().Add(-10 * time.Minute), time.Now().Add(10 * time.Minute)} {
			h := signed(at, body)
			got := send(t, http.MethodPost, g.URL("/telnyx"), h, body)
			if got.Status != http.StatusUnauthorized || strings.TrimSpace(got.Body) != `{"error":"timestamp_out_of_tolerance"}` {
				t.Errorf("signed at %v: %d %q, want 401 timestamp_out_of_tolerance", at, got.Status, got.Body)
			}
			if npmVerify(t, "telnyx", telnyxKey, h, body) {
				t.Errorf("telnyx's npm package accepts a request signed at %v", at)
			}
		}
	})
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}
