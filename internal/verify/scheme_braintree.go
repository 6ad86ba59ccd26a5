package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// braintreePayload is what a bt_payload may hold: base64 lines, as
// Braintree's SDKs require before checking it.
var braintreePayload = regexp.MustCompile(`^[A-Za-z0-9+=/\n]+$`)

// braintreeScheme verifies Braintree's webhooks: a form of exactly
// bt_signature and bt_payload (base64 XML), where bt_signature lists
// "<public key>|<hex HMAC-SHA1>" pairs joined by "&"; the pair of the
// configured public key must be the HMAC-SHA1 of bt_payload (or of
// bt_payload and a newline, as the SDKs accept) keyed by the SHA-1 of the
// private key. The payload signs no time: no window.
type braintreeScheme struct {
	publicKey string
	keys      [][]byte // SHA-1 of each private key
}

var _ canonical = (*braintreeScheme)(nil)

func newBraintreeScheme(p *preset, o Options) (*braintreeScheme, error) {
	if o.KeyID == "" || len(o.Secrets) == 0 {
		return nil, fmt.Errorf("needs the API keys: add `api_key <public key>` and `secret <private key>` to webhook_verify %s", p.Name)
	}
	s := &braintreeScheme{publicKey: o.KeyID}
	for _, secret := range o.Secrets {
		s.keys = append(s.keys, braintreeKey(secret))
	}
	return s, nil
}

func braintreeKey(privateKey string) []byte {
	sum := sha1.Sum([]byte(privateKey))
	return sum[:]
}

func braintreeMAC(key []byte, data string) []byte {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// braintreeForm reads the two fields; any other field, or either twice,
// is refused, so that nothing unsigned rides along.
func braintreeForm(body []byte) (sig, payload string, err error) {
	form, perr := url.ParseQuery(string(body))
	sigs, payloads := form["bt_signature"], form["bt_payload"]
	switch {
	case perr != nil || len(form) > 2 || len(sigs) > 1 || len(payloads) > 1:
		return "", "", errMalformed
	case len(sigs) == 0 || len(payloads) == 0:
		return "", "", errMissing
	case !braintreePayload.MatchString(payloads[0]):
		return "", "", errMalformed
	}
	return sigs[0], payloads[0], nil
}

func (s *braintreeScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	sigs, payload, err := braintreeForm(r.Body)
	if err != nil {
		return time.Time{}, "", err
	}
	var sig []byte
	for _, pair := range strings.Split(sigs, "&") {
		if pub, hexSig, ok := strings.Cut(pair, "|"); ok && pub == s.publicKey {
			if sig, err = hex.DecodeString(hexSig); err != nil {
				return time.Time{}, "", errMalformed
			}
			break
		}
	}
	if sig == nil {
		return time.Time{}, "", errNoMatch
	}
	for _, k := range s.keys {
		if hmac.Equal(sig, braintreeMAC(k, payload)) || hmac.Equal(sig, braintreeMAC(k, payload+"\n")) {
			return time.Time{}, "", nil
		}
	}
	return time.Time{}, "", errNoMatch
}

// content is the signed payload, whatever the form's encoding, without
// trailing newlines: the check accepts a payload with or without one more,
// and a captured request re-sent with a newline added or dropped must not
// be a new event (base64 lines end the same without them).
func (s *braintreeScheme) content(r *Request) []byte {
	_, payload, _ := braintreeForm(r.Body)
	return []byte(strings.TrimRight(payload, "\n"))
}

// braintreeChallenge answers Braintree's check of a new webhook URL (GET
// ?bt_challenge=<hex>) with "<public key>|<hex HMAC-SHA1 of the
// challenge>", from the current (first) private key.
func braintreeChallenge(c *handshakeConfig, r *Request, _ string) (*HandshakeAnswer, bool) {
	q, ok := query(r.URL)
	challenge := q.Get("bt_challenge")
	if !ok || !braintreeChallengeShape.MatchString(challenge) || len(c.keys) == 0 || c.keyID == "" {
		return nil, false
	}
	mac := braintreeMAC(braintreeKey(c.keys[0].secret), challenge)
	return &HandshakeAnswer{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8",
		Body: []byte(c.keyID + "|" + hex.EncodeToString(mac))}, true
}

// braintreeChallengeShape is the SDKs' check of a challenge.
var braintreeChallengeShape = regexp.MustCompile(`^[a-f0-9]{20,32}$`)
