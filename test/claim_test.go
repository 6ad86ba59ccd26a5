package test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// claimConfig has two Stripe routes with their own secrets (Stripe sends
// one evt_ id to every endpoint subscribed to an event), sync and async,
// two more told apart by a header matcher only, GitHub, Shopify and Twilio
// routes (none signs its delivery id; Twilio signs its form parameters as
// it sorts them), and two routes that share a scope on purpose. @STORE@ is the store's line and
// @STRIPE_A@ route A's secret lines.
const claimConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		@STORE@
	}
}
:{{.HTTP}} {
	handle /stripe-a {
		webhook_verify stripe {
			@STRIPE_A@
		}
		reverse_proxy {{.Backend}}
	}
	handle /stripe-b {
		webhook_verify stripe {
			secret whsec_route_b
		}
		reverse_proxy {{.Backend}}
	}
	handle /stripe-a-async {
		webhook_verify stripe {
			@STRIPE_A@
		}
		webhook_forward {{.Backend}}/a-async
	}
	handle /stripe-b-async {
		webhook_verify stripe {
			secret whsec_route_b
		}
		webhook_forward {{.Backend}}/b-async
	}
	handle /github {
		webhook_verify github {
			secret gh-secret
		}
		reverse_proxy {{.Backend}}
	}
	handle /shopify {
		webhook_verify shopify {
			secret shop-secret
		}
		reverse_proxy {{.Backend}}
	}
	handle /twilio {
		webhook_verify twilio {
			secret tw-secret
		}
		reverse_proxy {{.Backend}}
	}
	@tenant_a {
		path /tenant
		header X-Tenant a
	}
	handle @tenant_a {
		webhook_verify stripe {
			secret whsec_tenant_a
		}
		reverse_proxy {{.Backend}}
	}
	@tenant_b {
		path /tenant
		header X-Tenant b
	}
	handle @tenant_b {
		webhook_verify stripe {
			secret whsec_tenant_b
		}
		reverse_proxy {{.Backend}}
	}
	handle /renders-1 {
		webhook_verify standard {
			secret ` + standardSecret + `
			scope renders
		}
		reverse_proxy {{.Backend}}
	}
	handle /renders-2 {
		webhook_verify standard {
			secret ` + standardSecret + `
			scope renders
		}
		reverse_proxy {{.Backend}}
	}
}`

func TestClaimsScopedAndSigned(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"embedded", "redis", "cluster"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			storeLine := ""
			switch kind {
			case "redis":
				storeLine = "redis " + redistest.Start(t).URL()
			case "cluster":
				storeLine = "redis {\n\t\t\tcluster " + strings.Join(redistest.StartCluster(t, 3).Addrs(), " ") + "\n\t\t}"
			}
			config := strings.ReplaceAll(claimConfig, "@STORE@", storeLine)
			be := newBackend(t)
			g := newGateway(t, strings.ReplaceAll(config, "@STRIPE_A@", "secret whsec_route_a"), gatewayVars{Backend: be.URL})
			g.Start()
			testClaims(t, g, be, config)
		})
	}
}

func testClaims(t *testing.T, g *gateway, be *backend, config string) {
	passedTo := func(path string) int {
		n := 0
		for _, r := range be.Requests() {
			if r.Path == path {
				n++
			}
		}
		return n
	}
	commits := 0.0
	// Each Stripe request is signed at its own second: a retry is signed
	// anew, so it must not be the same signed request.
	stamp := time.Now().Unix()
	stripe := func(path, secret string, body []byte) (int, string) {
		stamp++
		status, answer, _ := post(t, g.URL(path), npmSign(t, "stripe", secret, "", stamp, body), body)
		return status, strings.TrimSpace(answer)
	}

	// 1. A route's events are its own: Stripe's one event reaches both
	// endpoints, sync and async.
	event := []byte(`{"id":"evt_same_for_every_endpoint","type":"invoice.paid"}`)
	for _, path := range []string{"/stripe-a", "/stripe-b"} {
		if status, answer := stripe(path, map[string]string{"/stripe-a": "whsec_route_a", "/stripe-b": "whsec_route_b"}[path], event); status != http.StatusOK || strings.Contains(answer, "duplicate") {
			t.Fatalf("%s: %d %s, want it passed on", path, status, answer)
		}
		commits++
		g.waitCommits(commits)
	}
	for _, path := range []string{"/stripe-a-async", "/stripe-b-async"} {
		secret := map[string]string{"/stripe-a-async": "whsec_route_a", "/stripe-b-async": "whsec_route_b"}[path]
		if status, answer := stripe(path, secret, event); status != http.StatusAccepted {
			t.Fatalf("%s: %d %s, want 202 accepted", path, status, answer)
		}
	}
	eventually(t, 20*time.Second, "both async routes to deliver the event", func() bool {
		return passedTo("/a-async") == 1 && passedTo("/b-async") == 1
	})
	if passedTo("/stripe-a") != 1 || passedTo("/stripe-b") != 1 {
		t.Fatalf("sync routes passed on %d and %d requests, want 1 each", passedTo("/stripe-a"), passedTo("/stripe-b"))
	}
	// Within one route, Stripe's retry (signed anew) is a duplicate.
	if status, answer := stripe("/stripe-a", "whsec_route_a", event); status != http.StatusOK || !strings.Contains(answer, `"duplicate"`) {
		t.Fatalf("Stripe's retry on route A: %d %s, want 200 duplicate", status, answer)
	}

	// 2. Keys come from signed bytes: a captured GitHub or Shopify request
	// sent again under a new unsigned delivery id is not passed on.
	gh := []byte(`{"action":"published","release":{"id":1}}`)
	shop := []byte(`{"id":820982911946154508,"topic":"orders/create"}`)
	shopHeader, _, err := verify.Sign("shopify", verify.Options{Secrets: []string{"shop-secret"}},
		verify.SignRequest{URL: g.URL("/shopify"), Body: shop, Header: http.Header{"X-Shopify-Event-Id": {"event-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	shopSigned := map[string]string{}
	for k := range shopHeader {
		shopSigned[k] = shopHeader.Get(k)
	}
	for _, c := range []struct {
		path, idHeader string
		signed         map[string]string
		body           []byte
	}{
		{"/github", "X-GitHub-Delivery", npmSign(t, "github", "gh-secret", "delivery-1", 0, gh), gh},
		{"/shopify", "X-Shopify-Event-Id", shopSigned, shop},
	} {
		if status, answer, _ := post(t, g.URL(c.path), c.signed, c.body); status != http.StatusOK {
			t.Fatalf("%s: %d %s", c.path, status, answer)
		}
		commits++
		g.waitCommits(commits)
		c.signed[c.idHeader] = "forged-id"
		if status, answer, _ := post(t, g.URL(c.path), c.signed, c.body); status != http.StatusOK || !strings.Contains(answer, `"duplicate"`) {
			t.Fatalf("%s request under a new %s: %d %s, want 200 duplicate", c.path, c.idHeader, status, answer)
		}
	}
	// Twilio signs its parameters sorted: the same ones reordered and
	// re-encoded verify alike, and are the same event.
	form := []byte("CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234")
	twHeader, _, err := verify.Sign("twilio", verify.Options{Secrets: []string{"tw-secret"}},
		verify.SignRequest{URL: g.URL("/twilio"), Body: form, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}})
	if err != nil {
		t.Fatal(err)
	}
	twSigned := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": twHeader.Get("X-Twilio-Signature")}
	if status, answer, _ := post(t, g.URL("/twilio"), twSigned, form); status != http.StatusOK {
		t.Fatalf("twilio: %d %s", status, answer)
	}
	commits++
	g.waitCommits(commits)
	reordered := []byte("&Digits=1234&Caller=%2B12349013030&CallSid=C%41%31234567890ABCDE")
	twSigned["I-Twilio-Idempotency-Token"] = "forged-id"
	if status, answer, _ := post(t, g.URL("/twilio"), twSigned, reordered); status != http.StatusOK || !strings.Contains(answer, `"duplicate"`) {
		t.Fatalf("Twilio parameters reordered and re-encoded: %d %s, want 200 duplicate", status, answer)
	}

	// Routes told apart by a header matcher only have their own claims.
	for _, tenant := range []string{"a", "b"} {
		stamp++
		h := npmSign(t, "stripe", "whsec_tenant_"+tenant, "", stamp, event)
		h["X-Tenant"] = tenant
		if status, answer, _ := post(t, g.URL("/tenant"), h, event); status != http.StatusOK || strings.Contains(answer, "duplicate") {
			t.Fatalf("tenant %s: %d %s, want it passed on", tenant, status, answer)
		}
		commits++
		g.waitCommits(commits)
	}
	if passedTo("/tenant") != 2 {
		t.Fatalf("the tenants' routes passed on %d requests, want 2", passedTo("/tenant"))
	}

	if passedTo("/github") != 1 || passedTo("/shopify") != 1 || passedTo("/twilio") != 1 {
		t.Fatalf("github, shopify and twilio passed on %d, %d and %d requests, want 1 each", passedTo("/github"), passedTo("/shopify"), passedTo("/twilio"))
	}

	// A scope shared on purpose: the second route sees the first's event.
	render := []byte(`{"type":"render.done"}`)
	if status, answer, _ := post(t, g.URL("/renders-1"), signedStandard(t, "msg_render_1", time.Now(), render), render); status != http.StatusOK {
		t.Fatalf("renders-1: %d %s", status, answer)
	}
	commits++
	g.waitCommits(commits)
	status, answer, _ := post(t, g.URL("/renders-2"), signedStandard(t, "msg_render_1", time.Now().Add(time.Second), render), render)
	if status != http.StatusOK || !strings.Contains(answer, `"duplicate"`) {
		t.Fatalf("renders-2, same scope: %d %s, want 200 duplicate", status, answer)
	}

	// Rotation: a second secret keeps the route's dedup state.
	g.Reload(strings.ReplaceAll(config, "@STRIPE_A@", "secret whsec_route_a_next\n\t\t\tsecret whsec_route_a"), gatewayVars{Backend: be.URL})
	if status, answer := stripe("/stripe-a", "whsec_route_a_next", event); status != http.StatusOK || !strings.Contains(answer, `"duplicate"`) {
		t.Fatalf("after rotating route A's secret, Stripe's retry: %d %s, want 200 duplicate", status, answer)
	}
	fresh := []byte(fmt.Sprintf(`{"id":"evt_after_rotation_%d","type":"invoice.paid"}`, time.Now().UnixNano()))
	if status, answer := stripe("/stripe-a", "whsec_route_a_next", fresh); status != http.StatusOK || strings.Contains(answer, "duplicate") {
		t.Fatalf("a new event after the rotation: %d %s, want it passed on", status, answer)
	}
}
