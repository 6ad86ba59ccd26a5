package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/textproto"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// netlifyIssuer is the iss of every Netlify notification token.
const netlifyIssuer = "netlify"

// netlifyScheme verifies Netlify's deploy notifications: a JWS (HS256, the
// notification's JWS secret) in X-Webhook-Signature, issued by "netlify",
// whose claim sha256 is the hex SHA-256 of the body. Netlify signs no time
// of its own: an exp, when present, is still checked.
type netlifyScheme struct {
	header string
	keys   []hmacKey
}

type netlifyClaims struct {
	jwt.Claims
	SHA256 string `json:"sha256"`
}

func newNetlifyScheme(p *preset, secrets []string) (*netlifyScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	return &netlifyScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), keys: hmacKeys(secrets)}, nil
}

func (s *netlifyScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	token := headerValue(r.Header, s.header)
	if token == "" {
		return time.Time{}, "", errMissing
	}
	payload, err := verifyHS256(token, s.keys)
	if err != nil {
		return time.Time{}, "", err
	}
	var claims netlifyClaims
	if err := readClaims(payload, &claims, &claims.Claims, now, jwtLeeway, false); err != nil {
		return time.Time{}, "", err
	}
	want, err := hex.DecodeString(claims.SHA256)
	sum := sha256.Sum256(r.Body)
	if claims.Issuer != netlifyIssuer || err != nil || !hmac.Equal(want, sum[:]) {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}

// netlify makes Netlify's token: HS256 over {"iss":"netlify","sha256":hex}.
func (s *signer) netlify() error {
	sum := sha256.Sum256(s.r.Body)
	claims, _ := json.Marshal(netlifyClaims{ // plain strings: cannot fail
		Claims: jwt.Claims{Issuer: netlifyIssuer},
		SHA256: hex.EncodeToString(sum[:]),
	})
	token, err := signHS256(s.secret, claims)
	if err != nil {
		return err
	}
	s.h.Set(s.p.Header, token)
	return nil
}
