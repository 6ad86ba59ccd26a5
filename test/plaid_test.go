package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const plaidEdgeConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /plaid {
		webhook_verify plaid {
			api_key plaid-client-1
			secret plaid-secret-1
			jwks_url @KEY_URL@
		}
		reverse_proxy {{.Backend}}
	}
}`

// TestPlaidAtTheEdge: Plaid webhooks through the built Caddy, with the
// verification key that a local TLS server gives as Plaid's
// /webhook_verification_key/get does: a genuine one passes; a tampered
// body, another key and a stale or future iat are refused.
func TestPlaidAtTheEdge(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: "kid-1", Algorithm: "ES256", Use: "sig"})
	answer, _ := json.Marshal(map[string]any{"key": json.RawMessage(jwk), "request_id": "r-1"})
	plaidURL, caFile := keyPublisher(t, answer)
	be := newBackend(t)
	g := newGateway(t, strings.ReplaceAll(plaidEdgeConfig, "@KEY_URL@", plaidURL+"/webhook_verification_key/get"), gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"SSL_CERT_FILE=" + caFile}
	g.Start()

	signed := func(k *ecdsa.PrivateKey, iat time.Time, body []byte) map[string]string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "kid-1"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		claims, _ := json.Marshal(map[string]any{"iat": iat.Unix(), "request_body_sha256": hex.EncodeToString(sum[:])})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		token, _ := jws.CompactSerialize()
		return map[string]string{"Plaid-Verification": token, "Content-Type": "application/json"}
	}
	body := []byte(`{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-1"}`)
	if status, resp, _ := post(t, g.URL("/plaid"), signed(key, time.Now(), body), body); status != http.StatusOK {
		t.Fatalf("a genuine webhook: %d %s", status, resp)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wantRefused(t, g.URL("/plaid"), []refusal{
		{"tampered body", signed(key, time.Now(), body), append(body, ' '), "invalid_signature"},
		{"another key", signed(other, time.Now(), body), body, "invalid_signature"},
		{"stale", signed(key, time.Now().Add(-10*time.Minute), body), body, "timestamp_out_of_tolerance"},
		{"future", signed(key, time.Now().Add(10*time.Minute), body), body, "timestamp_out_of_tolerance"},
	})
	if n := len(be.Requests()); n != 1 {
		t.Errorf("backend got %d requests, want the genuine one", n)
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}
