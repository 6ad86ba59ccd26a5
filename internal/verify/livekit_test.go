package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	lkKey    = "APIabc123"
	lkSecret = "lk-secret-that-is-long-enough-0123456789"
	lkBody   = `{"event":"room_started","id":"EV_abc","room":{"name":"r1"}}`
)

var lkNow = time.Unix(1700000000, 0)

// livekitToken signs as LiveKit's notifier does: HS256, iss = API key,
// sha256 = base64(SHA-256(body)), valid for five minutes from now.
func livekitToken(t testing.TB, secret, iss string, body []byte, nbf time.Time, method jwt.SigningMethod) string {
	t.Helper()
	sum := sha256.Sum256(body)
	claims := bodyHashClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    iss,
			NotBefore: jwt.NewNumericDate(nbf),
			ExpiresAt: jwt.NewNumericDate(nbf.Add(5 * time.Minute)),
		},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	}
	tok, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func livekitRequest(token, body string, now time.Time) *Request {
	return &Request{Method: "POST", URL: "https://hooks.example.com/livekit",
		Header: hdr("Authorization", token, "Content-Type", "application/webhook+json"), Body: []byte(body), Now: now}
}

func TestLiveKit(t *testing.T) {
	opts := Options{KeyID: lkKey, Secrets: []string{lkSecret}}
	good := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, jwt.SigningMethodHS256)
	cases := []struct {
		name  string
		opts  Options
		token string
		body  string
		now   time.Time
		want  error
	}{
		{"round trip", opts, good, lkBody, lkNow, nil},
		{"Bearer prefix tolerated", opts, "Bearer " + good, lkBody, lkNow, nil},
		{"rotated secrets", Options{KeyID: lkKey, Secrets: []string{"old-secret", lkSecret}}, good, lkBody, lkNow, nil},
		{"tampered body", opts, good, lkBody + " ", lkNow, ErrInvalidSignature},
		{"wrong body hash claim", opts, livekitToken(t, lkSecret, lkKey, []byte("other"), lkNow, jwt.SigningMethodHS256), lkBody, lkNow, ErrInvalidSignature},
		{"wrong secret", Options{KeyID: lkKey, Secrets: []string{"nope"}}, good, lkBody, lkNow, ErrInvalidSignature},
		{"wrong api key (iss)", Options{KeyID: "APIother", Secrets: []string{lkSecret}}, good, lkBody, lkNow, ErrInvalidSignature},
		{"HS512 refused", opts, livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, jwt.SigningMethodHS512), lkBody, lkNow, ErrInvalidSignature},
		{"missing header", opts, "", lkBody, lkNow, ErrInvalidSignature},
		{"garbage token", opts, "not.a.jwt", lkBody, lkNow, ErrInvalidSignature},
		{"expired", opts, good, lkBody, lkNow.Add(5*time.Minute + jwtLeeway + time.Second), ErrTimestamp},
		{"not yet valid", opts, good, lkBody, lkNow.Add(-jwtLeeway - time.Second), ErrTimestamp},
		{"within leeway", opts, good, lkBody, lkNow.Add(-jwtLeeway + time.Second), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, "livekit", c.opts)
			res, err := v.Verify(livekitRequest(c.token, c.body, c.now))
			if c.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.ID != "EV_abc" || res.Nonce == "" {
					t.Errorf("result %+v", res)
				}
				return
			}
			wantErr(t, err, c.want)
		})
	}
}

// TestLiveKitToleranceBoundsAge: a long-lived token is accepted only within
// the tolerance of its nbf, so its nonce cannot expire before it does.
func TestLiveKitToleranceBoundsAge(t *testing.T) {
	sum := sha256.Sum256([]byte(lkBody))
	claims := bodyHashClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: lkKey, NotBefore: jwt.NewNumericDate(lkNow),
			ExpiresAt: jwt.NewNumericDate(lkNow.Add(6 * time.Hour))},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(lkSecret))
	if err != nil {
		t.Fatal(err)
	}
	v := mustNew(t, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}})
	_, err = v.Verify(livekitRequest(tok, lkBody, lkNow.Add(time.Hour)))
	wantErr(t, err, ErrTimestamp)

	off := time.Duration(0)
	v = mustNew(t, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}, Tolerance: &off})
	if _, err := v.Verify(livekitRequest(tok, lkBody, lkNow.Add(time.Hour))); err != nil {
		t.Fatalf("tolerance 0 leaves only nbf/exp: %v", err)
	}
}

// TestLiveKitNonceIgnoresSignatureEncoding: the nonce names what was
// signed, so a re-encoded signature segment is still the same token.
func TestLiveKitNonce(t *testing.T) {
	v := mustNew(t, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}})
	a := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, jwt.SigningMethodHS256)
	b := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow.Add(time.Second), jwt.SigningMethodHS256)
	ra, err1 := v.Verify(livekitRequest(a, lkBody, lkNow.Add(time.Second)))
	rb, err2 := v.Verify(livekitRequest(b, lkBody, lkNow.Add(time.Second)))
	if err1 != nil || err2 != nil || ra.Nonce == rb.Nonce {
		t.Fatalf("nonces %q %q, errors %v %v", ra.Nonce, rb.Nonce, err1, err2)
	}
}
