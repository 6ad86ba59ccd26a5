package verify

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	googleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
	// jwksTTL: Google rotates its keys over weeks and publishes new ones
	// before use; an unknown kid refetches sooner (once per remoteRetry).
	jwksTTL = time.Hour
	// Google's own verifier (google-auth-library) allows 300 s of clock
	// skew on iat and exp, and refuses a token that expires 86,400 s or
	// more from now.
	googleSkew        = 300 * time.Second
	googleMaxLifetime = 86400 * time.Second
)

var googleIssuers = []string{"accounts.google.com", "https://accounts.google.com"}

var errLifetime = fmt.Errorf("%w: token lifetime over %s", ErrTimestamp, googleMaxLifetime)

// oidcScheme verifies a Google Pub/Sub push: "Authorization: Bearer" carries
// a Google-signed RS256 OIDC token whose aud is the configured audience and
// whose email is the push subscription's service account, verified by
// Google, with iat and exp under Google's rules.
type oidcScheme struct {
	header   string
	audience string
	email    string
	jwksURL  string
	keys     *remote[*jose.JSONWebKeySet]
}

type googleClaims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

func newOIDCScheme(p *preset, o Options) (*oidcScheme, error) {
	if o.Email == "" {
		return nil, fmt.Errorf("needs the push subscription's service account: add `email <account>` to webhook_verify %s, or anyone's Google token for this URL would pass", p.Name)
	}
	// The request's own URL is no audience: its Host is the client's to
	// choose, so a token minted for any other push endpoint would pass.
	if o.Audience == "" {
		return nil, fmt.Errorf("needs the audience of the push subscription's tokens: add `audience <aud>` to webhook_verify %s, "+
			"with the push endpoint's public URL (e.g. https://hooks.example.com/pubsub, Google's default) or the subscription's custom audience", p.Name)
	}
	jwksURL, err := keySetURL(o.JWKSURL, googleJWKSURL)
	if err != nil {
		return nil, err
	}
	return &oidcScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), audience: o.Audience, email: o.Email,
		jwksURL: jwksURL, keys: newRemote(o.HTTPClient, jwksTTL, parseJWKS)}, nil
}

func parseJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := decodeJSON(b, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// key finds the RSA key named kid, refetching the set (at most once per
// remoteRetry) when the kid is new.
func (s *oidcScheme) key(kid string, now time.Time) (*rsa.PublicKey, error) {
	for _, maxAge := range []time.Duration{jwksTTL, 0} {
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
	jws, err := parseJWT(token, jose.RS256)
	if err != nil {
		return time.Time{}, "", err
	}
	key, err := s.key(jws.Signatures[0].Header.KeyID, now)
	if errors.Is(err, ErrKeyUnavailable) {
		return time.Time{}, "", ErrKeyUnavailable
	}
	if err != nil {
		return time.Time{}, "", errNoMatch
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return time.Time{}, "", errNoMatch
	}
	var claims googleClaims
	if err := readClaims(payload, &claims, &claims.Claims, now, googleSkew, true); err != nil {
		return time.Time{}, "", err
	}
	if claims.Expiry == nil || !claims.Audience.Contains(s.audience) {
		return time.Time{}, "", errNoMatch
	}
	if claims.IssuedAt == nil {
		return time.Time{}, "", errMalformed
	}
	if exp := claims.Expiry.Time(); exp.Sub(claims.IssuedAt.Time()) > googleMaxLifetime || exp.Sub(now) >= googleMaxLifetime {
		return time.Time{}, "", errLifetime
	}
	if !slices.Contains(googleIssuers, claims.Issuer) || claims.Email != s.email || !claims.EmailVerified {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}
