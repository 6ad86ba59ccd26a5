package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	lkKey    = "APIabc123"
	lkSecret = "lk-secret-that-is-long-enough-0123456789"
	lkBody   = `{"event":"room_started","id":"EV_abc","room":{"name":"r1"}}`
)

var lkNow = time.Unix(1700000000, 0)

// livekitToken signs as LiveKit's notifier does: HS256 (alg), iss = API
// key, sha256 = base64(SHA-256(body)), valid for five minutes from nbf.
func livekitToken(t testing.TB, secret, iss string, body []byte, nbf time.Time, alg string) string {
	t.Helper()
	sum := sha256.Sum256(body)
	return macJWT(alg, secret, bodyHashClaims{
		Claims: jwt.Claims{
			Issuer:    iss,
			NotBefore: jwt.NewNumericDate(nbf),
			Expiry:    jwt.NewNumericDate(nbf.Add(5 * time.Minute)),
		},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	})
}

func livekitRequest(token, body string, now time.Time) *Request {
	return &Request{Method: "POST", URL: "https://hooks.example.com/livekit",
		Header: hdr("Authorization", token, "Content-Type", "application/webhook+json"), Body: []byte(body), Now: now}
}

func TestLiveKit(t *testing.T) {
	opts := Options{KeyID: lkKey, Secrets: []string{lkSecret}}
	good := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, "HS256")
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
		{"wrong body hash claim", opts, livekitToken(t, lkSecret, lkKey, []byte("other"), lkNow, "HS256"), lkBody, lkNow, ErrInvalidSignature},
		{"wrong secret", Options{KeyID: lkKey, Secrets: []string{"nope"}}, good, lkBody, lkNow, ErrInvalidSignature},
		{"wrong api key (iss)", Options{KeyID: "APIother", Secrets: []string{lkSecret}}, good, lkBody, lkNow, ErrInvalidSignature},
		{"HS512 refused", opts, livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, "HS512"), lkBody, lkNow, ErrInvalidSignature},
		{"missing header", opts, "", lkBody, lkNow, ErrInvalidSignature},
		{"garbage token", opts, "not.a.jwt", lkBody, lkNow, ErrInvalidSignature},
		{"expired", opts, good, lkBody, lkNow.Add(5*time.Minute + jwtLeeway + time.Second), ErrTimestamp},
		{"not yet valid", opts, good, lkBody, lkNow.Add(-jwtLeeway - time.Second), ErrTimestamp},
		{"within leeway", opts, good, lkBody, lkNow.Add(-jwtLeeway + time.Second), nil},
		{"at exp plus leeway", opts, good, lkBody, lkNow.Add(5*time.Minute + jwtLeeway), ErrTimestamp},
		{"at nbf minus leeway", opts, good, lkBody, lkNow.Add(-jwtLeeway), nil},
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
	tok := macJWT("HS256", lkSecret, bodyHashClaims{
		Claims: jwt.Claims{Issuer: lkKey, NotBefore: jwt.NewNumericDate(lkNow),
			Expiry: jwt.NewNumericDate(lkNow.Add(6 * time.Hour))},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	})
	v := mustNew(t, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}})
	_, err := v.Verify(livekitRequest(tok, lkBody, lkNow.Add(time.Hour)))
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
	a := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, "HS256")
	b := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow.Add(time.Second), "HS256")
	ra, err1 := v.Verify(livekitRequest(a, lkBody, lkNow.Add(time.Second)))
	rb, err2 := v.Verify(livekitRequest(b, lkBody, lkNow.Add(time.Second)))
	if err1 != nil || err2 != nil || ra.Nonce == rb.Nonce {
		t.Fatalf("nonces %q %q, errors %v %v", ra.Nonce, rb.Nonce, err1, err2)
	}
}

// TestJWTTextIsWhatWasSigned: a token written another way (a newline, stray
// low bits in a segment's last character) decodes to the signed bytes but
// is refused: its text names it, and would pass a replay check as new.
func TestJWTTextIsWhatWasSigned(t *testing.T) {
	v := mustNew(t, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}})
	good := livekitToken(t, lkSecret, lkKey, []byte(lkBody), lkNow, "HS256")
	if _, err := v.Verify(livekitRequest(good, lkBody, lkNow)); err != nil {
		t.Fatal(err)
	}
	head, rest, _ := strings.Cut(good, ".")
	claims, sig, _ := strings.Cut(rest, ".")
	variants := map[string]string{
		"newline in the claims": head + "." + claims[:8] + "\n" + claims[8:] + "." + sig,
		"newline in the header": head[:8] + "\r\n" + head[8:] + "." + claims + "." + sig,
		"padded claims":         head + "." + claims + "==." + sig,
	}
	for _, seg := range []struct{ name, s string }{{"header", head}, {"claims", claims}} {
		if len(seg.s)%4 == 0 {
			continue // no unused bits
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, seg.s[len(seg.s)-1])
		other := seg.s[:len(seg.s)-1] + string(alphabet[last^1])
		variants["stray low bits in the "+seg.name] = strings.Replace(good, seg.s, other, 1)
	}
	for name, token := range variants {
		if _, err := v.Verify(livekitRequest(token, lkBody, lkNow)); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%s: err = %v, want %v", name, err, ErrInvalidSignature)
		}
	}
}
