package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/textproto"
	"reflect"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// jwtBodyScheme verifies JW Player's webhook token: an HS256 JWT in
// "Authorization: Bearer" whose claims are the JSON body itself, so the body
// is authentic when the token verifies and its claims equal the body.
type jwtBodyScheme struct {
	header string
	keys   []hmacKey
}

func newJWTBodyScheme(p *preset, secrets []string) (*jwtBodyScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	return &jwtBodyScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), keys: hmacKeys(secrets)}, nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" value
// (the scheme name is case-insensitive, RFC 6750), "" when there is none.
func bearerToken(value string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// decodeJSON decodes with json.Number, so that numbers compare exactly,
// and refuses trailing data.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// content is the body's JSON re-encoded (keys sorted): what the token's
// claims were compared with, whatever its spacing and key order.
func (s *jwtBodyScheme) content(r *Request) []byte {
	var body map[string]any
	_ = decodeJSON(r.Body, &body)
	b, _ := json.Marshal(body)
	return b
}

func (s *jwtBodyScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	token := bearerToken(headerValue(r.Header, s.header))
	if token == "" {
		return time.Time{}, "", errMissing
	}
	payload, err := verifyHS256(token, s.keys)
	if err != nil {
		return time.Time{}, "", err
	}
	var claims map[string]any
	if decodeJSON(payload, &claims) != nil || claims == nil {
		return time.Time{}, "", errMalformed
	}
	exp, expOK := numericDate(claims, "exp")
	nbf, nbfOK := numericDate(claims, "nbf")
	if err := checkJWTTimes(&jwt.Claims{Expiry: exp, NotBefore: nbf}, now, jwtLeeway, false); err != nil {
		return time.Time{}, "", err
	}
	if !expOK || !nbfOK {
		return time.Time{}, "", errNoMatch
	}
	var body map[string]any
	if decodeJSON(r.Body, &body) != nil {
		return time.Time{}, "", errNoMatch
	}
	if !reflect.DeepEqual(claims, body) {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}

// numericDate reads the time claim name of claims decoded by decodeJSON:
// nil when it is absent, ok false when it is not a number of seconds.
func numericDate(claims map[string]any, name string) (d *jwt.NumericDate, ok bool) {
	v, present := claims[name]
	if !present {
		return nil, true
	}
	n, isNumber := v.(json.Number)
	d = new(jwt.NumericDate)
	if !isNumber || d.UnmarshalJSON([]byte(n)) != nil {
		return nil, false
	}
	return d, true
}
