package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/stdwebhooks"
)

// macScheme verifies an HMAC (or, for kindHash, a plain hash that includes
// the secret) over a signed-content template.
type macScheme struct {
	header   string // canonical signature header
	prefix   string
	list     listFormat
	encoding string
	tmpl     template
	tsHeader string // canonical; "" when the timestamp is in the list or absent
	tsField  string // JSON body path of a timestamp the body signature covers
	tsFormat string
	idHeader string // canonical; the {id} of the template
	size     int    // MAC length in bytes
	keys     []*macKey
}

// macKey pools the keyed hash state of one secret: hmac.New costs several
// allocations, Reset none.
type macKey struct {
	secret string // kindHash: the secret is part of the signed content
	pool   sync.Pool
}

type macState struct {
	h       hash.Hash
	scratch []byte
	sum     [sha512.Size]byte
}

func hashFunc(algorithm string) (func() hash.Hash, error) {
	switch strings.ToLower(algorithm) {
	case "sha1":
		return sha1.New, nil
	case "sha256":
		return sha256.New, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("`algorithm` must be sha1, sha256 or sha512, not %q", algorithm)
}

func checkEncoding(encoding string) error {
	switch encoding {
	case "hex", "base64", "base64url":
		return nil
	}
	return fmt.Errorf("`encoding` must be hex, base64 or base64url, not %q", encoding)
}

func errNeedSecret(name string) error {
	return fmt.Errorf("needs a secret: add `secret <value>` to webhook_verify %s", name)
}

func newMACScheme(p *preset, secrets []string) (*macScheme, error) {
	if p.Header == "" {
		return nil, errors.New("needs `header <name>`: the header that carries the signature")
	}
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	newHash, err := hashFunc(p.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := checkEncoding(p.Encoding); err != nil {
		return nil, err
	}
	isHash := p.Kind == kindHash
	tmpl, err := parseTemplate(p.Signed, isHash)
	if err != nil {
		return nil, err
	}
	s := &macScheme{
		header: textproto.CanonicalMIMEHeaderKey(p.Header), prefix: p.Prefix, list: p.List,
		encoding: p.Encoding, tmpl: tmpl, tsFormat: p.TimestampFormat, size: newHash().Size(),
	}
	if err := s.setTimestamp(p); err != nil {
		return nil, err
	}
	if tmpl.uses(partID) {
		if len(p.IDHeaders) == 0 {
			return nil, errors.New("`signed` uses {id}: set `id_header`")
		}
		s.idHeader = textproto.CanonicalMIMEHeaderKey(p.IDHeaders[0])
	}
	for _, secret := range secrets {
		key, err := macKeyBytes(p.Key, secret)
		if err != nil {
			return nil, err
		}
		k := &macKey{}
		if isHash {
			k.secret = secret
			k.pool.New = func() any { return &macState{h: newHash()} }
		} else {
			k.pool.New = func() any { return &macState{h: hmac.New(newHash, key)} }
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// setTimestamp checks that a configured timestamp is also signed: an
// unsigned timestamp proves nothing and would give replay protection false
// confidence.
func (s *macScheme) setTimestamp(p *preset) error {
	if p.TimestampField != "" {
		// The body is signed, so is any field of it. A body without the
		// field is refused: no unsigned header stands in for it.
		s.tsField = p.TimestampField
		return checkTimestampFormat(p.TimestampFormat)
	}
	hasTS := p.List.carriesTimestamp() || p.TimestampHeader != ""
	signed := s.tmpl.uses(partTimestamp)
	switch {
	case signed && !hasTS:
		return errors.New("`signed` uses {timestamp}: set `timestamp_header`")
	case hasTS && !signed:
		return errors.New("`timestamp_header` is set but `signed` has no {timestamp}, so the timestamp would not be signed")
	case !signed:
		return nil
	}
	if !p.List.carriesTimestamp() {
		s.tsHeader = textproto.CanonicalMIMEHeaderKey(p.TimestampHeader)
	}
	return checkTimestampFormat(p.TimestampFormat)
}

// macKeyBytes turns a configured secret into key bytes.
func macKeyBytes(f keyFormat, secret string) ([]byte, error) {
	if f == keyRaw {
		return []byte(secret), nil
	}
	key, err := stdwebhooks.DecodeSecret(secret)
	if err != nil {
		return nil, errors.New("`secret` must be whsec_ followed by base64, as the sender shows it")
	}
	return key, nil
}

func (s *macScheme) signsTimestamp() bool { return s.tsField != "" || s.tmpl.uses(partTimestamp) }

func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *macScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	value := headerValue(r.Header, s.header)
	if value == "" {
		return time.Time{}, "", errMissing
	}
	sh, ok := parseSigHeader(value, s.list, s.prefix)
	if !ok {
		return time.Time{}, "", errMalformed
	}
	v := signedVars{body: r.Body, url: r.URL, method: r.Method, header: r.Header, timestamp: sh.ts}
	var ts time.Time
	if s.signsTimestamp() {
		switch {
		case s.tsField != "":
			v.timestamp, _ = JSONField(r.Body, s.tsField)
		case s.tsHeader != "":
			v.timestamp = headerValue(r.Header, s.tsHeader)
		}
		if v.timestamp == "" {
			return time.Time{}, "", errMissing
		}
		if ts, ok = parseTimestamp(s.tsFormat, v.timestamp); !ok {
			return time.Time{}, "", errMalformed
		}
	}
	if s.idHeader != "" {
		if v.id = headerValue(r.Header, s.idHeader); v.id == "" {
			return time.Time{}, "", errMissing
		}
	}

	// Decode every candidate once; skip those of the wrong shape (another
	// algorithm's length), as long as one is usable.
	var cands [maxSignatures][sha512.Size]byte
	usable := 0
	for i := 0; i < sh.n; i++ {
		if n, ok := decodeSig(cands[usable][:], s.encoding, sh.sigs[i]); ok && n == s.size {
			usable++
		}
	}
	if usable == 0 {
		return time.Time{}, "", errMalformed
	}

	for _, k := range s.keys {
		st := k.pool.Get().(*macState)
		st.h.Reset()
		v.secret = k.secret
		s.tmpl.write(st.h, &v, &st.scratch)
		sum := st.h.Sum(st.sum[:0])
		matched := false
		for i := 0; i < usable; i++ {
			if hmac.Equal(sum, cands[i][:s.size]) {
				matched = true
				break
			}
		}
		if !matched {
			k.pool.Put(st)
			continue
		}
		var nonce string
		if s.signsTimestamp() {
			nonce = hexString(sum)
		}
		k.pool.Put(st)
		return ts, nonce, nil
	}
	return time.Time{}, "", errNoMatch
}

// hexString encodes with one allocation, the string itself.
func hexString(b []byte) string {
	var buf [2 * sha512.Size]byte
	n := hex.Encode(buf[:], b)
	return string(buf[:n])
}
