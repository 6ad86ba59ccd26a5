package test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

const standardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verifyConfig puts webhook_verify in front of reverse_proxy to a real
// service, with the embedded store; secrets come from {env.X}.
const verifyConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /standard {
		webhook_verify standard {
			secret {env.TEST_STANDARD_SECRET}
			max_body 64KB
		}
		reverse_proxy {{.Backend}}
	}
	handle /github {
		webhook_verify github {
			secret "It's a Secret to Everybody"
		}
		reverse_proxy {{.Backend}}
	}
	handle /stripe {
		webhook_verify stripe {
			secret whsec_old_secret
			secret whsec_test_secret
		}
		reverse_proxy {{.Backend}}
	}
}`

func signedStandard(t testing.TB, id string, ts time.Time, body []byte) map[string]string {
	t.Helper()
	sig, err := verify.SignStandard(standardSecret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature": sig,
	}
}

func TestVerifyInFrontOfReverseProxy(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, verifyConfig, gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"TEST_STANDARD_SECRET=" + standardSecret}
	g.Start()

	// Bytes a JSON re-encoder would change: the signature is over these.
	body := []byte("{\"b\": 1,  \"a\":\"\\u00e9\"}\r\n")
	status, resp, _ := post(t, g.URL("/standard"), signedStandard(t, "msg_ok", time.Now(), body), body)
	if status != http.StatusOK || !strings.Contains(resp, "backend says") {
		t.Fatalf("signed request: %d %s\n%s", status, resp, g.logs)
	}
	reqs := be.Requests()
	if len(reqs) != 1 {
		t.Fatalf("backend got %d requests, want 1", len(reqs))
	}
	if !bytes.Equal(reqs[0].Body, body) {
		t.Errorf("body changed on the way: %q, want %q", reqs[0].Body, body)
	}
	if got := reqs[0].Header.Get("Webhook-Id"); got != "msg_ok" {
		t.Errorf("Webhook-Id = %q, want msg_ok", got)
	}
	if got := reqs[0].Header.Get("Webhook-Provider"); got != "standard" {
		t.Errorf("Webhook-Provider = %q", got)
	}

	tampered := append([]byte(nil), body...)
	tampered[2] = 'c'
	badSecret := map[string]string{}
	for k, v := range signedStandard(t, "msg_bad", time.Now(), body) {
		badSecret[k] = v
	}
	badSecret["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	cases := []struct {
		name   string
		method string
		header map[string]string
		body   []byte
		status int
		error  string
	}{
		{"tampered body", "POST", signedStandard(t, "msg_t", time.Now(), body), tampered, 401, "invalid_signature"},
		{"wrong signature", "POST", badSecret, body, 401, "invalid_signature"},
		{"missing headers", "POST", nil, body, 401, "invalid_signature"},
		{"stale", "POST", signedStandard(t, "msg_s", time.Now().Add(-10*time.Minute), body), body, 401, "timestamp_out_of_tolerance"},
		{"future", "POST", signedStandard(t, "msg_f", time.Now().Add(10*time.Minute), body), body, 401, "timestamp_out_of_tolerance"},
		{"too large", "POST", signedStandard(t, "msg_l", time.Now(), bytes.Repeat([]byte("x"), 65*1024)), bytes.Repeat([]byte("x"), 65*1024), 413, "body_too_large"},
		{"GET", "GET", nil, nil, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, g.URL("/standard"), bytes.NewReader(c.body))
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			want := fmt.Sprintf(`{"error":%q}`, c.error)
			if resp.StatusCode != c.status || strings.TrimSpace(b.String()) != want {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, b.String(), c.status, want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	if n := len(be.Requests()); n != 1 {
		t.Errorf("rejected requests reached the backend: %d requests, want 1", n)
	}
	if strings.Contains(g.logs.String(), standardSecret) || strings.Contains(g.logs.String(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
		t.Error("the secret appears in the logs")
	}
}

// The providers' own npm packages sign; our gateway must accept them.
func TestVerifyAcceptsProviderSDKSignatures(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := newGateway(t, verifyConfig, gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"TEST_STANDARD_SECRET=" + standardSecret}
	g.Start()
	now := time.Now().Unix()

	cases := []struct {
		path, provider, secret, id string
		body                       []byte
	}{
		{"/standard", "standard", standardSecret, "msg_npm_1", []byte(`{"type":"video.asset.ready","n":1}`)},
		{"/github", "github", "It's a Secret to Everybody", "72d3162e-cc78-11e3-81ab-4c9367dc0958", []byte(`{"zen":"Keep it logically awesome."}`)},
		{"/stripe", "stripe", "whsec_test_secret", "", []byte(`{"id":"evt_npm_1","object":"event"}`)},
	}
	for _, c := range cases {
		t.Run(c.provider, func(t *testing.T) {
			h := npmSign(t, c.provider, c.secret, c.id, now, c.body)
			status, resp, _ := post(t, g.URL(c.path), h, c.body)
			if status != http.StatusOK {
				t.Fatalf("%s signed by its npm package: %d %s", c.provider, status, resp)
			}
			tampered := append(append([]byte(nil), c.body...), ' ')
			if status, _, _ := post(t, g.URL(c.path), h, tampered); status != http.StatusUnauthorized {
				t.Errorf("tampered body: %d, want 401", status)
			}
		})
	}
	reqs := be.Requests()
	if len(reqs) != len(cases) {
		t.Fatalf("backend got %d requests, want %d", len(reqs), len(cases))
	}
	if got := reqs[1].Header.Get("Webhook-Id"); got != cases[1].id {
		t.Errorf("GitHub Webhook-Id = %q, want the X-GitHub-Delivery %q", got, cases[1].id)
	}
	if got := reqs[2].Header.Get("Webhook-Id"); got != "evt_npm_1" {
		t.Errorf("Stripe Webhook-Id = %q, want the event id", got)
	}
}
