package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	plaidKeyURL = "https://production.plaid.com/webhook_verification_key/get"
	// plaidKeyTTL: Plaid's keys are long-lived and say when they expire;
	// a key is asked for again after a day.
	plaidKeyTTL = 24 * time.Hour
	// plaidTolerance: Plaid refuses a token issued more than 5 min ago.
	plaidTolerance = 5 * time.Minute
	plaidHeader    = "Plaid-Verification"
	// plaidMaxKeyID bounds a key id before it is sent to Plaid.
	plaidMaxKeyID = 128
)

// plaidScheme verifies Plaid's webhooks: Plaid-Verification is an ES256
// JWT whose kid names a key that Plaid gives, by POST with the client id
// and secret, at /webhook_verification_key/get; its iat is the signed time
// and its request_body_sha256 the hex SHA-256 of the body. Keys are
// fetched by id under the fetch policy (each id at most once a minute,
// cached a day): a forged token naming a new id costs one request to
// Plaid, and a genuine key, once cached, none.
type plaidScheme struct {
	keys *remote[plaidKey]
}

type plaidKey struct {
	pub       *ecdsa.PublicKey
	expiredAt int64 // unix seconds; 0: not expired
}

type plaidClaims struct {
	jwt.Claims
	RequestBodySHA256 string `json:"request_body_sha256"`
}

func newPlaidScheme(p *preset, o Options) (*plaidScheme, error) {
	if o.KeyID == "" || len(o.Secrets) == 0 {
		return nil, fmt.Errorf("needs Plaid's API credentials to fetch its keys: add `api_key <client_id>` and `secret <secret>` to webhook_verify %s", p.Name)
	}
	endpoint, err := keySetURL(o.JWKSURL, plaidKeyURL)
	if err != nil {
		return nil, err
	}
	keys := newRemote(o.HTTPClient, plaidKeyTTL, parsePlaidKey)
	keys.fetch = func(ctx context.Context, c *http.Client, kid string) ([]byte, error) {
		// Any configured secret may ask (a secret being rotated): the
		// first answer wins; a publisher out of reach outranks a refusal.
		var firstErr error
		for _, secret := range o.Secrets {
			req, _ := json.Marshal(map[string]string{"client_id": o.KeyID, "secret": secret, "key_id": kid}) // strings: cannot fail
			b, err := fetchWith(ctx, c, http.MethodPost, endpoint, req, RemoteMaxBytes)
			if err == nil {
				return b, nil
			}
			if firstErr == nil || errors.Is(err, ErrKeyUnavailable) {
				firstErr = err
			}
		}
		return nil, firstErr
	}
	return &plaidScheme{keys: keys}, nil
}

// parsePlaidKey reads /webhook_verification_key/get's answer: a P-256 JWK
// and when it expired.
func parsePlaidKey(b []byte) (plaidKey, error) {
	var answer struct {
		Key json.RawMessage `json:"key"`
	}
	var meta struct {
		ExpiredAt *int64 `json:"expired_at"`
	}
	var jwk jose.JSONWebKey
	if json.Unmarshal(b, &answer) != nil || json.Unmarshal(answer.Key, &meta) != nil || jwk.UnmarshalJSON(answer.Key) != nil {
		return plaidKey{}, errors.New("not a Plaid verification key")
	}
	pub, ok := jwk.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return plaidKey{}, errors.New("Plaid's key is not a P-256 key")
	}
	k := plaidKey{pub: pub}
	if meta.ExpiredAt != nil {
		k.expiredAt = *meta.ExpiredAt
	}
	return k, nil
}

func (s *plaidScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	token := headerValue(r.Header, plaidHeader)
	if token == "" {
		return time.Time{}, "", errMissing
	}
	jws, err := parseJWT(token, jose.ES256)
	if err != nil {
		return time.Time{}, "", err
	}
	kid := jws.Signatures[0].Header.KeyID
	if kid == "" || len(kid) > plaidMaxKeyID {
		return time.Time{}, "", errMalformed
	}
	key, err := s.keys.get(kid, now, plaidKeyTTL)
	if errors.Is(err, ErrKeyUnavailable) {
		return time.Time{}, "", ErrKeyUnavailable
	}
	if err != nil || key.expiredAt != 0 && now.Unix() >= key.expiredAt {
		return time.Time{}, "", errNoMatch
	}
	payload, err := jws.Verify(key.pub)
	if err != nil {
		return time.Time{}, "", errNoMatch
	}
	var claims plaidClaims
	if err := readClaims(payload, &claims, &claims.Claims, now, jwtLeeway, false); err != nil {
		return time.Time{}, "", err
	}
	if claims.IssuedAt == nil {
		return time.Time{}, "", errMalformed
	}
	want, err := hex.DecodeString(claims.RequestBodySHA256)
	sum := sha256.Sum256(r.Body)
	if err != nil || !hmac.Equal(want, sum[:]) {
		return time.Time{}, "", errNoMatch
	}
	// The signed part names the token, as LiveKit's: its signature
	// segment could be re-encoded without changing what was signed.
	return claims.IssuedAt.Time(), token[:strings.LastIndexByte(token, '.')], nil
}
