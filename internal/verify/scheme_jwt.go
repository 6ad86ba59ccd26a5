package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// jwtLeeway absorbs clock skew on nbf and exp.
const jwtLeeway = 30 * time.Second

// jwtScheme verifies LiveKit's webhook token: an HS256 JWT from the API key
// (iss) whose claim sha256 is base64(SHA-256(body)).
type jwtScheme struct {
	header string
	keyID  string
	keys   []hmacKey
}

type bodyHashClaims struct {
	jwt.Claims
	SHA256 string `json:"sha256"`
}

func newJWTScheme(p *preset, keyID string, secrets []string) (*jwtScheme, error) {
	if keyID == "" || len(secrets) == 0 {
		return nil, fmt.Errorf("needs the API key and its secret: add `api_key <api key>` and `secret <api secret>` to webhook_verify %s", p.Name)
	}
	return &jwtScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), keyID: keyID, keys: hmacKeys(secrets)}, nil
}

func (s *jwtScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	token := headerValue(r.Header, s.header)
	token = strings.TrimPrefix(token, "Bearer ")
	if token == "" {
		return time.Time{}, "", errMissing
	}
	payload, err := verifyHS256(token, s.keys)
	if err != nil {
		return time.Time{}, "", err
	}
	var claims bodyHashClaims
	if err := readClaims(payload, &claims, &claims.Claims, now, jwtLeeway, false); err != nil {
		return time.Time{}, "", err
	}
	if claims.Expiry == nil || claims.Issuer != s.keyID {
		return time.Time{}, "", errNoMatch
	}
	want, err := base64.StdEncoding.DecodeString(claims.SHA256)
	sum := sha256.Sum256(r.Body)
	if err != nil || !hmac.Equal(want, sum[:]) {
		return time.Time{}, "", errNoMatch
	}
	issued := claims.NotBefore
	if issued == nil {
		issued = claims.IssuedAt
	}
	if issued == nil {
		return time.Time{}, "", errMalformed
	}
	// The signed part (header.claims) names the token: its signature
	// segment could be re-encoded without changing what was signed.
	return issued.Time(), token[:strings.LastIndexByte(token, '.')], nil
}

// parseJWT parses a compact JWT signed with alg. Its header and claims must
// be written as the canonical base64url of what they decode to: go-jose
// checks the signature over its own encoding of the decoded bytes, so a
// token written another way (a newline, stray low bits) would verify under
// another text, and the text names the token.
func parseJWT(token string, alg jose.SignatureAlgorithm) (*jose.JSONWebSignature, error) {
	head, rest, _ := strings.Cut(token, ".")
	claims, _, ok := strings.Cut(rest, ".")
	if !ok || !canonicalBase64URL(head) || !canonicalBase64URL(claims) {
		return nil, errMalformed
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{alg})
	var otherAlg *jose.ErrUnexpectedSignatureAlgorithm
	switch {
	case errors.As(err, &otherAlg):
		return nil, errNoMatch
	case err != nil:
		return nil, errMalformed
	}
	return jws, nil
}

func canonicalBase64URL(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && base64.RawURLEncoding.EncodeToString(b) == s
}

// readClaims decodes a verified token's claims into claims, whose
// registered claims are registered, and checks their times.
func readClaims(payload []byte, claims any, registered *jwt.Claims, now time.Time, leeway time.Duration, checkIAT bool) error {
	if decodeJSON(payload, claims) != nil {
		return errMalformed
	}
	return checkJWTTimes(registered, now, leeway, checkIAT)
}

// checkJWTTimes checks exp, nbf and, when checkIAT, iat against now with
// leeway for clock skew: a token at or past exp (plus leeway) is too old,
// one before nbf or iat (minus leeway) too new.
func checkJWTTimes(c *jwt.Claims, now time.Time, leeway time.Duration, checkIAT bool) error {
	switch {
	case c.Expiry != nil && !now.Before(c.Expiry.Time().Add(leeway)):
		return errTooOld
	case c.NotBefore != nil && now.Before(c.NotBefore.Time().Add(-leeway)),
		checkIAT && c.IssuedAt != nil && now.Before(c.IssuedAt.Time().Add(-leeway)):
		return errTooNew
	}
	return nil
}

// hmacKey is an HS256 key of any length. go-jose refuses HMAC keys shorter
// than the hash (RFC 7518 section 3.2), but a provider's secret is what the
// provider made it, and its tokens must verify.
type hmacKey []byte

func hmacKeys(secrets []string) []hmacKey {
	keys := make([]hmacKey, len(secrets))
	for i, s := range secrets {
		keys[i] = hmacKey(s)
	}
	return keys
}

// Public is nil: the key is secret (jose.OpaqueSigner).
func (hmacKey) Public() *jose.JSONWebKey { return nil }

// Algs is HS256 alone (jose.OpaqueSigner).
func (hmacKey) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.HS256} }

// SignPayload returns the HMAC-SHA256 of payload (jose.OpaqueSigner); go-jose
// asks only for an algorithm of Algs.
func (k hmacKey) SignPayload(payload []byte, _ jose.SignatureAlgorithm) ([]byte, error) {
	m := hmac.New(sha256.New, k)
	m.Write(payload)
	return m.Sum(nil), nil
}

// VerifyPayload checks an HS256 signature (jose.OpaqueVerifier).
func (k hmacKey) VerifyPayload(payload, signature []byte, alg jose.SignatureAlgorithm) error {
	sum, _ := k.SignPayload(payload, alg)
	if alg != jose.HS256 || !hmac.Equal(sum, signature) {
		return errNoMatch
	}
	return nil
}

// verifyHS256 returns the payload of an HS256 token signed with one of
// keys.
func verifyHS256(token string, keys []hmacKey) ([]byte, error) {
	jws, err := parseJWT(token, jose.HS256)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, errNoMatch
}
