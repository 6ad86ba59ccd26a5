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

	"github.com/golang-jwt/jwt/v5"
)

// jwtLeeway absorbs clock skew on nbf and exp.
const jwtLeeway = 30 * time.Second

// jwtScheme verifies LiveKit's webhook token: an HS256 JWT from the API key
// (iss) whose claim sha256 is base64(SHA-256(body)).
type jwtScheme struct {
	header string
	keyID  string
	keys   jwt.VerificationKeySet
}

type bodyHashClaims struct {
	jwt.RegisteredClaims
	SHA256 string `json:"sha256"`
}

func newJWTScheme(p *preset, keyID string, secrets []string) (*jwtScheme, error) {
	if keyID == "" || len(secrets) == 0 {
		return nil, fmt.Errorf("needs the API key and its secret: add `api_key <api key>` and `secret <api secret>` to webhook_verify %s", p.Name)
	}
	s := &jwtScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), keyID: keyID}
	for _, secret := range secrets {
		s.keys.Keys = append(s.keys.Keys, []byte(secret))
	}
	return s, nil
}

func (s *jwtScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	token := headerValue(r.Header, s.header)
	token = strings.TrimPrefix(token, "Bearer ")
	if token == "" {
		return time.Time{}, "", errMissing
	}
	var claims bodyHashClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return s.keys, nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(s.keyID),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return time.Time{}, "", jwtError(err)
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
	return issued.Time, token[:strings.LastIndexByte(token, '.')], nil
}

// jwtError maps golang-jwt's errors to the scheme errors. The parser checks
// the signature before the claims, so a time error means the token itself
// is genuine and only its age is wrong.
func jwtError(err error) error {
	switch {
	case errors.Is(err, ErrKeyUnavailable):
		return ErrKeyUnavailable
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTooOld
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errTooNew
	default:
		return errNoMatch
	}
}
