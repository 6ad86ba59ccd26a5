package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	plaidClientID = "client-1"
	plaidSecret   = "plaid-secret"
	plaidKid      = "6c5516e1-92dc-479e-a8ff-5a51992e0001"
)

// plaidAPI answers /webhook_verification_key/get as Plaid does: the key
// for plaidKid to the right credentials, 400 to anything else. gets
// counts the requests.
type plaidAPI struct {
	srv  *httptest.Server
	key  *ecdsa.PrivateKey
	mu   sync.Mutex
	gets int
}

var plaidFixture = sync.OnceValue(func() *plaidAPI {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	a := &plaidAPI{key: key}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.gets++
		a.mu.Unlock()
		var raw map[string]string
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&raw) != nil ||
			raw["client_id"] != plaidClientID || raw["secret"] != plaidSecret || raw["key_id"] != plaidKid {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		jwk, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: plaidKid, Algorithm: "ES256", Use: "sig"})
		var m map[string]any
		_ = json.Unmarshal(jwk, &m)
		m["created_at"], m["expired_at"] = 1560000000, nil
		_ = json.NewEncoder(w).Encode(map[string]any{"key": m, "request_id": "req-1"})
	}))
	return a
})

func (a *plaidAPI) opts(secret string) Options {
	return Options{KeyID: plaidClientID, Secrets: []string{secret}, JWKSURL: a.srv.URL + "/webhook_verification_key/get", HTTPClient: a.srv.Client()}
}

func (a *plaidAPI) requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gets
}

// plaidToken is a Plaid-Verification JWT for body, issued at iat by key kid.
func plaidToken(key *ecdsa.PrivateKey, kid string, iat time.Time, body string) string {
	sum := sha256.Sum256([]byte(body))
	claims, _ := json.Marshal(map[string]any{"iat": iat.Unix(), "request_body_sha256": hex.EncodeToString(sum[:])})
	return signJWS(jose.ES256, key, kid, claims)
}

// signJWS is the compact JWT of payload signed by key with alg, its
// header naming kid.
func signJWS(alg jose.SignatureAlgorithm, key any, kid string, payload []byte) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return s
}

func plaidVector() vector {
	a := plaidFixture()
	body := `{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-1"}`
	return vector{
		name: "plaid (Go ES256, key from a local TLS server)", provider: "plaid",
		opts: a.opts(plaidSecret), wrong: a.opts("another-secret"),
		header: hdr(plaidHeader, plaidToken(a.key, plaidKid, unix(1700000000), body)), body: body,
		signedAt: unix(1700000000), sigHdr: plaidHeader,
	}
}

// TestPlaidKeys: a token naming an unknown key id, or signed by another
// key, is refused; each key id is asked for at most once a minute, so a
// flood of forged tokens naming one id costs one request.
func TestPlaidKeys(t *testing.T) {
	a := plaidFixture()
	v := mustNew(t, "plaid", a.opts(plaidSecret))
	body := `{"webhook_code":"X"}`
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct{ name, token string }{
		{"unknown key id", plaidToken(a.key, "not-a-plaid-key", unix(1700000000), body)},
		{"another key", plaidToken(other, plaidKid, unix(1700000000), body)},
		{"key id too long", plaidToken(a.key, strings.Repeat("k", plaidMaxKeyID+1), unix(1700000000), body)},
	} {
		r := &Request{Method: "POST", URL: "https://hooks.example.com/plaid", Header: hdr(plaidHeader, c.token), Body: []byte(body), Now: unix(1700000000)}
		if _, err := v.Verify(r); err == nil {
			t.Errorf("%s: verified", c.name)
		}
	}
	before := a.requests()
	for range 20 {
		r := &Request{Method: "POST", URL: "https://hooks.example.com/plaid", Body: []byte(body), Now: unix(1700000000),
			Header: hdr(plaidHeader, plaidToken(other, "forged-kid", unix(1700000000), body))}
		_, _ = v.Verify(r)
	}
	if got := a.requests() - before; got > 1 {
		t.Errorf("20 forged tokens naming one key id made %d requests to Plaid, want at most 1", got)
	}
	if _, err := New("plaid", Options{Secrets: []string{plaidSecret}}); err == nil || !strings.Contains(err.Error(), "api_key") {
		t.Fatalf("no client id: %v", err)
	}
}
