package verify

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

const (
	googleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
	// jwksTTL: Google rotates its keys over weeks and publishes new ones
	// before use; an unknown kid refetches sooner (jwksMinAge).
	jwksTTL    = time.Hour
	jwksMinAge = time.Minute
)

var googleIssuers = []string{"accounts.google.com", "https://accounts.google.com"}

// oidcScheme verifies a Google Pub/Sub push: "Authorization: Bearer" carries
// a Google-signed RS256 OIDC token whose aud is the configured audience (by
// default the push URL) and whose email is the push subscription's service
// account, verified by Google.
type oidcScheme struct {
	header   string
	audience string // "" means the request URL
	email    string
	jwksURL  string
	keys     *remote[*jose.JSONWebKeySet]
}

type googleClaims struct {
	jwt.RegisteredClaims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

func newOIDCScheme(p *preset, o Options) (*oidcScheme, error) {
	if o.Email == "" {
		return nil, fmt.Errorf("needs the push subscription's service account: add `email <account>` to webhook_verify %s, or anyone's Google token for this URL would pass", p.Name)
	}
	s := &oidcScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), audience: o.Audience, email: o.Email, jwksURL: o.JWKSURL}
	if s.jwksURL == "" {
		s.jwksURL = googleJWKSURL
	}
	s.keys = newRemote(o.HTTPClient, jwksTTL, parseJWKS)
	return s, nil
}

func parseJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := decodeJSON(b, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// key finds the RSA key named kid, refetching the set (at most once per
// jwksMinAge) when the kid is new.
func (s *oidcScheme) key(kid string, now time.Time) (*rsa.PublicKey, error) {
	for _, maxAge := range []time.Duration{jwksTTL, jwksMinAge} {
		set, err := s.keys.get(s.jwksURL, now, maxAge)
		if err != nil {
			return nil, err
		}
		for _, k := range set.Key(kid) {
			if pub, ok := k.Key.(*rsa.PublicKey); ok {
				return pub, nil
			}
		}
	}
	return nil, errors.New("unknown key id")
}

func (s *oidcScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	token := bearerToken(headerValue(r.Header, s.header))
	if token == "" {
		return time.Time{}, "", errMissing
	}
	audience := s.audience
	if audience == "" {
		audience = r.URL
	}
	var claims googleClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			return s.key(kid, now)
		},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return time.Time{}, "", jwtError(err)
	}
	if !slices.Contains(googleIssuers, claims.Issuer) || claims.Email != s.email || !claims.EmailVerified {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}
