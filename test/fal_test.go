package test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const falEdgeConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /fal {
		webhook_verify fal {
			user_id ` + falAccount + `
			jwks_url @JWKS_URL@
		}
		reverse_proxy {{.Backend}}
	}
}`

const falAccount = "fal-user-1"

// TestFalAtTheEdge: fal.ai webhooks through the built Caddy, verified
// against a key set that a local TLS server publishes as fal does: a
// genuine one passes with its request id as the event id; another
// account's, a tampered body, a stale or a future one are refused.
func TestFalAtTheEdge(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub)}}})
	falURL, caFile := keyPublisher(t, jwks)
	be := newBackend(t)
	g := newGateway(t, strings.ReplaceAll(falEdgeConfig, "@JWKS_URL@", falURL+"/.well-known/jwks.json"), gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"SSL_CERT_FILE=" + caFile}
	g.Start()

	signed := func(id, user string, at time.Time, body []byte) map[string]string {
		ts := strconv.FormatInt(at.Unix(), 10)
		sum := sha256.Sum256(body)
		sig := ed25519.Sign(priv, []byte(id+"\n"+user+"\n"+ts+"\n"+hex.EncodeToString(sum[:])))
		return map[string]string{"X-Fal-Webhook-Request-Id": id, "X-Fal-Webhook-User-Id": user,
			"X-Fal-Webhook-Timestamp": ts, "X-Fal-Webhook-Signature": hex.EncodeToString(sig), "Content-Type": "application/json"}
	}
	body := []byte(`{"request_id":"req-1","status":"OK","payload":{"video":{"url":"https://v.fal.media/x.mp4"}}}`)
	if status, resp, _ := post(t, g.URL("/fal"), signed("req-1", falAccount, time.Now(), body), body); status != http.StatusOK {
		t.Fatalf("a genuine webhook: %d %s", status, resp)
	}
	wantRefused(t, g.URL("/fal"), []refusal{
		{"another account's", signed("req-2", "someone-else", time.Now(), body), body, "invalid_signature"},
		{"tampered body", signed("req-3", falAccount, time.Now(), body), append(body, ' '), "invalid_signature"},
		{"stale", signed("req-4", falAccount, time.Now().Add(-10*time.Minute), body), body, "timestamp_out_of_tolerance"},
		{"future", signed("req-5", falAccount, time.Now().Add(10*time.Minute), body), body, "timestamp_out_of_tolerance"},
	})
	reqs := be.Requests()
	if len(reqs) != 1 {
		t.Fatalf("backend got %d requests, want the genuine one", len(reqs))
	}
	if id := reqs[0].Header.Get("Webhook-Id"); id != "req-1" {
		t.Errorf("Webhook-Id = %q, want the signed request id", id)
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}

// keyPublisher serves doc over TLS, as a publisher serves its keys, and
// returns its URL and a CA file for the gateway's SSL_CERT_FILE.
func keyPublisher(t *testing.T, doc []byte) (url, caFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(doc) }))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "publisher-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

// refusal is a request a test expects the gateway to answer 401 want.
type refusal struct {
	what string
	h    map[string]string
	body []byte
	want string
}

func wantRefused(t *testing.T, url string, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		status, resp, _ := post(t, url, c.h, c.body)
		if status != http.StatusUnauthorized || strings.TrimSpace(resp) != `{"error":"`+c.want+`"}` {
			t.Errorf("%s: %d %s, want 401 %s", c.what, status, resp, c.want)
		}
	}
}
