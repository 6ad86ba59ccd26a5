package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/textproto"
	"reflect"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtBodyScheme verifies JW Player's webhook token: an HS256 JWT in
// "Authorization: Bearer" whose claims are the JSON body itself, so the body
// is authentic when the token verifies and its claims equal the body.
type jwtBodyScheme struct {
	header string
	keys   jwt.VerificationKeySet
}

func newJWTBodyScheme(p *preset, secrets []string) (*jwtBodyScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	s := &jwtBodyScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header)}
	for _, secret := range secrets {
		s.keys.Keys = append(s.keys.Keys, []byte(secret))
	}
	return s, nil
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

// decodeJSON decodes with json.Number, as the JWT parser is told to, so
// that numbers compare exactly.
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
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims,
		func(*jwt.Token) (any, error) { return s.keys, nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithJSONNumber(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return time.Time{}, "", jwtError(err)
	}
	var body map[string]any
	if decodeJSON(r.Body, &body) != nil {
		return time.Time{}, "", errNoMatch
	}
	if !reflect.DeepEqual(map[string]any(claims), body) {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}
