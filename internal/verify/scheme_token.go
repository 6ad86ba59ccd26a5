package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// tokenScheme accepts a request that carries a shared token, for senders
// that do not sign (Shotstack, classic GitLab). Tokens are compared as
// SHA-256 digests so that neither content nor length leaks through timing.
type tokenScheme struct {
	header string // canonical; "" when the token is in the query
	prefix string // e.g. "Bearer "
	query  string
	hashes [][sha256.Size]byte
}

func newTokenScheme(p *preset, secrets []string) (*tokenScheme, error) {
	if p.Header == "" && p.Query == "" {
		return nil, errors.New("needs `header <name>` or `query <param>`: where the token is sent")
	}
	if p.Header != "" && p.Query != "" {
		return nil, errors.New("takes `header` or `query`, not both")
	}
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	s := &tokenScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header), prefix: p.Prefix, query: p.Query}
	for _, secret := range secrets {
		s.hashes = append(s.hashes, sha256.Sum256([]byte(secret)))
	}
	return s, nil
}

func (s *tokenScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	var token string
	if s.query != "" {
		u, err := url.Parse(r.URL)
		if err != nil {
			return time.Time{}, "", errMalformed
		}
		token = u.Query().Get(s.query)
	} else {
		token = headerValue(r.Header, s.header)
	}
	token, ok := strings.CutPrefix(token, s.prefix)
	if token == "" || !ok {
		return time.Time{}, "", errMissing
	}
	if !matchDigest(s.hashes, token) {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}

func matchDigest(hashes [][sha256.Size]byte, given string) bool {
	sum := sha256.Sum256([]byte(given))
	for _, h := range hashes {
		if hmac.Equal(sum[:], h[:]) {
			return true
		}
	}
	return false
}

// basicScheme checks HTTP basic auth (RFC 7617) against "user:password"
// secrets.
type basicScheme struct {
	hashes [][sha256.Size]byte
}

func newBasicScheme(secrets []string) (*basicScheme, error) {
	s := &basicScheme{}
	for _, secret := range secrets {
		if !strings.Contains(secret, ":") {
			return nil, errors.New("`secret` must be user:password")
		}
		s.hashes = append(s.hashes, sha256.Sum256([]byte(secret)))
	}
	if len(s.hashes) == 0 {
		return nil, errors.New("needs a secret: add `secret <user:password>` to webhook_verify basic")
	}
	return s, nil
}

func (s *basicScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	scheme, creds, ok := strings.Cut(headerValue(r.Header, "Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return time.Time{}, "", errMissing
	}
	given, err := base64.StdEncoding.DecodeString(strings.TrimSpace(creds))
	if err != nil {
		return time.Time{}, "", errMalformed
	}
	if !matchDigest(s.hashes, string(given)) {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}
