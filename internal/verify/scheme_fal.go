package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"
)

const (
	falJWKSURL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
	// falKeysTTL is how long fal says its key set may be cached; a
	// signature no cached key verifies refetches sooner (once per
	// remoteRetry), so a rotated key is picked up within a minute.
	falKeysTTL = 24 * time.Hour
	// falTolerance is the window of fal's documented verification.
	falTolerance = 5 * time.Minute
)

// fal's webhook headers: the request id, the account, the time and the
// ed25519 signature (hex) of the four lines request id, user id,
// timestamp and hex SHA-256 of the body.
const (
	falRequestID = "X-Fal-Webhook-Request-Id"
	falUserID    = "X-Fal-Webhook-User-Id"
	falTimestamp = "X-Fal-Webhook-Timestamp"
	falSignature = "X-Fal-Webhook-Signature"
)

// falScheme verifies fal.ai's webhooks against fal's published key set.
// fal signs every account's webhooks with the same keys, and anyone can
// name any URL as a request's webhook: the signed user id must be the
// configured account's, or another account's genuine webhook would pass.
type falScheme struct {
	userID  string
	jwksURL string
	keys    *remote[[]ed25519.PublicKey]
}

func newFalScheme(p *preset, o Options) (*falScheme, error) {
	if o.FalUserID == "" {
		return nil, fmt.Errorf("needs your fal user id: add `user_id <id>` to webhook_verify %s; fal signs every account's webhooks with one key set, so another account's webhook to this URL would pass", p.Name)
	}
	u, err := keySetURL(o.JWKSURL, falJWKSURL)
	if err != nil {
		return nil, err
	}
	return &falScheme{userID: o.FalUserID, jwksURL: u, keys: newRemote(o.HTTPClient, falKeysTTL, parseEd25519Set)}, nil
}

// keySetURL is the configured `jwks_url`, else the publisher's own; https
// only, as every remote fetch.
func keySetURL(configured, publisher string) (string, error) {
	if configured == "" {
		return publisher, nil
	}
	if u, err := url.Parse(configured); err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("`jwks_url` must be an https URL, not %q", configured)
	}
	return configured, nil
}

// parseEd25519Set reads the ed25519 keys of a JWKS (kty OKP, crv Ed25519).
func parseEd25519Set(b []byte) ([]ed25519.PublicKey, error) {
	set, err := parseJWKS(b)
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	for _, k := range set.Keys {
		if pub, ok := k.Key.(ed25519.PublicKey); ok {
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set has no ed25519 key")
	}
	return keys, nil
}

func (s *falScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	id, user := headerValue(r.Header, falRequestID), headerValue(r.Header, falUserID)
	ts, sigHex := headerValue(r.Header, falTimestamp), headerValue(r.Header, falSignature)
	if id == "" || user == "" || ts == "" || sigHex == "" {
		return time.Time{}, "", errMissing
	}
	at, ok := parseTimestamp("unix", ts)
	sig, err := hex.DecodeString(sigHex)
	if !ok || err != nil || len(sig) != ed25519.SignatureSize {
		return time.Time{}, "", errMalformed
	}
	if user != s.userID {
		return time.Time{}, "", errNoMatch
	}
	sum := sha256.Sum256(r.Body)
	msg := []byte(id + "\n" + user + "\n" + ts + "\n" + hex.EncodeToString(sum[:]))
	for _, maxAge := range []time.Duration{falKeysTTL, 0} {
		keys, err := s.keys.get(s.jwksURL, now, maxAge)
		if errors.Is(err, ErrKeyUnavailable) {
			return time.Time{}, "", ErrKeyUnavailable
		}
		if err != nil {
			return time.Time{}, "", errNoMatch
		}
		for _, k := range keys {
			if ed25519.Verify(k, msg, sig) {
				nonce := sha256.Sum256(msg)
				return at, hexString(nonce[:]), nil
			}
		}
	}
	return time.Time{}, "", errNoMatch
}
