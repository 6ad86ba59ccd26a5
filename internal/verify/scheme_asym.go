package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"
)

// asymScheme verifies a public-key signature over a signed-content
// template: ed25519 (Discord), ECDSA P-256 (SendGrid), RSA PKCS#1 v1.5.
type asymScheme struct {
	header   string
	prefix   string
	encoding string
	tmpl     template
	tsHeader string
	tsFormat string
	hash     crypto.Hash // ECDSA and RSA sign a digest; ed25519 the message
	keys     []func(msg, digest, sig []byte) bool
}

func newAsymScheme(p *preset, publicKeys []string) (*asymScheme, error) {
	if p.Header == "" {
		return nil, errors.New("needs `header <name>`: the header that carries the signature")
	}
	if len(publicKeys) == 0 {
		return nil, fmt.Errorf("needs a public key: add `public_key <value>` to webhook_verify %s", p.Name)
	}
	if err := checkEncoding(p.Encoding); err != nil {
		return nil, err
	}
	tmpl, err := parseTemplate(p.Signed, false)
	if err != nil {
		return nil, err
	}
	s := &asymScheme{
		header: textproto.CanonicalMIMEHeaderKey(p.Header), prefix: p.Prefix,
		encoding: p.Encoding, tmpl: tmpl, tsFormat: p.TimestampFormat,
	}
	switch signed := tmpl.uses(partTimestamp); {
	case signed && p.TimestampHeader == "":
		return nil, errors.New("`signed` uses {timestamp}: set `timestamp_header`")
	case !signed && p.TimestampHeader != "":
		return nil, errors.New("`timestamp_header` is set but `signed` has no {timestamp}, so the timestamp would not be signed")
	case signed:
		if err := checkTimestampFormat(p.TimestampFormat); err != nil {
			return nil, err
		}
		s.tsHeader = textproto.CanonicalMIMEHeaderKey(p.TimestampHeader)
	}
	if tmpl.uses(partID) {
		return nil, errors.New("`signed` cannot use {id} with a public-key scheme")
	}
	for _, k := range publicKeys {
		verify, err := s.parseKey(p, k)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, verify)
	}
	return s, nil
}

// parseKey returns the verification function for one configured key.
func (s *asymScheme) parseKey(p *preset, key string) (func(msg, digest, sig []byte) bool, error) {
	switch p.Kind {
	case kindEd25519:
		// Discord shows the key in hex, Telnyx in base64.
		pub, err := hex.DecodeString(key)
		if err != nil {
			pub, err = base64.StdEncoding.DecodeString(key)
		}
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, errors.New("`public_key` must be an ed25519 public key: 64 hex characters or 44 of base64")
		}
		return func(msg, _, sig []byte) bool { return ed25519.Verify(pub, msg, sig) }, nil
	case kindECDSA:
		pub, err := parseSPKI(key)
		ec, ok := pub.(*ecdsa.PublicKey)
		if err != nil || !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("`public_key` must be a base64 (or PEM) SubjectPublicKeyInfo ECDSA P-256 key")
		}
		s.hash = crypto.SHA256
		return func(_, digest, sig []byte) bool { return ecdsa.VerifyASN1(ec, digest, sig) }, nil
	case kindRSA:
		pub, err := parseSPKI(key)
		rk, ok := pub.(*rsa.PublicKey)
		if err != nil || !ok {
			return nil, errors.New("`public_key` must be a base64 (or PEM) SubjectPublicKeyInfo RSA key")
		}
		switch strings.ToLower(p.Algorithm) {
		case "sha1":
			s.hash = crypto.SHA1
		case "sha256":
			s.hash = crypto.SHA256
		default:
			return nil, fmt.Errorf("`algorithm` must be sha1 or sha256 for RSA, not %q", p.Algorithm)
		}
		h := s.hash
		return func(_, digest, sig []byte) bool { return rsa.VerifyPKCS1v15(rk, h, digest, sig) == nil }, nil
	}
	return nil, fmt.Errorf("unhandled public-key kind %d", p.Kind)
}

// parseSPKI reads a SubjectPublicKeyInfo as PEM or as bare base64 DER.
func parseSPKI(key string) (any, error) {
	var der []byte
	if block, _ := pem.Decode([]byte(key)); block != nil {
		der = block.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
		if err != nil {
			return nil, err
		}
		der = b
	}
	return x509.ParsePKIXPublicKey(der)
}

func (s *asymScheme) signsTimestamp() bool { return s.tmpl.uses(partTimestamp) }

func (s *asymScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	value := headerValue(r.Header, s.header)
	if value == "" {
		return time.Time{}, "", errMissing
	}
	sh, ok := parseSigHeader(value, listFormat{}, s.prefix)
	if !ok {
		return time.Time{}, "", errMalformed
	}
	sig, ok := decodeLong(s.encoding, sh.sigs[0])
	if !ok {
		return time.Time{}, "", errMalformed
	}
	v := signedVars{body: r.Body, url: r.URL, method: r.Method, header: r.Header}
	var ts time.Time
	if s.tsHeader != "" {
		if v.timestamp = headerValue(r.Header, s.tsHeader); v.timestamp == "" {
			return time.Time{}, "", errMissing
		}
		if ts, ok = parseTimestamp(s.tsFormat, v.timestamp); !ok {
			return time.Time{}, "", errMalformed
		}
	}
	msg := s.tmpl.appendTo(make([]byte, 0, len(r.Body)+64), &v)
	var digest []byte
	if s.hash != 0 {
		h := s.hash.New()
		h.Write(msg)
		digest = h.Sum(nil)
	}
	for _, verify := range s.keys {
		if verify(msg, digest, sig) {
			var nonce string
			if s.signsTimestamp() {
				// ECDSA signatures are malleable ((r,s) and (r,-s) both
				// verify): the nonce names the message, not the signature.
				sum := sha256.Sum256(msg)
				nonce = hexString(sum[:])
			}
			return ts, nonce, nil
		}
	}
	return time.Time{}, "", errNoMatch
}
