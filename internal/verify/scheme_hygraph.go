package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// hygraphScheme verifies Hygraph's webhooks: gcms-signature is
// "sign=<base64>, env=<environment>, t=<ms>", the HMAC-SHA256 of the
// JavaScript JSON.stringify of {Body, EnvironmentName, TimeStamp}: the raw
// body as a string, the environment and the time, all three signed.
type hygraphScheme struct {
	header string
	keys   [][]byte
}

func newHygraphScheme(p *preset, secrets []string) (*hygraphScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	s := &hygraphScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header)}
	for _, secret := range secrets {
		s.keys = append(s.keys, []byte(secret))
	}
	return s, nil
}

// hygraphSigned is what Hygraph signs, byte for byte as JSON.stringify
// writes it; false for a body that is not UTF-8 (no JavaScript string).
func hygraphSigned(body []byte, env, ts string) ([]byte, bool) {
	if !utf8.Valid(body) || !utf8.ValidString(env) {
		return nil, false
	}
	var b strings.Builder
	b.WriteString(`{"Body":`)
	jsString(&b, string(body))
	b.WriteString(`,"EnvironmentName":`)
	jsString(&b, env)
	b.WriteString(`,"TimeStamp":` + ts + `}`)
	return []byte(b.String()), true
}

// jsString writes s quoted as JSON.stringify does: only the quote, the
// backslash and control characters are escaped (the short forms where
// JSON has them); everything else, "<" or U+2028 alike, is written as is.
func jsString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// parseHygraphHeader splits "sign=<b64>, env=<env>, t=<ms>".
func parseHygraphHeader(v string) (sig, env, ts string, ok bool) {
	parts := strings.Split(v, ", ")
	if len(parts) != 3 {
		return "", "", "", false
	}
	sig, ok1 := strings.CutPrefix(parts[0], "sign=")
	env, ok2 := strings.CutPrefix(parts[1], "env=")
	ts, ok3 := strings.CutPrefix(parts[2], "t=")
	return sig, env, ts, ok1 && ok2 && ok3 && sig != "" && ts != ""
}

func (s *hygraphScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	v := headerValue(r.Header, s.header)
	if v == "" {
		return time.Time{}, "", errMissing
	}
	sig64, env, ts, ok := parseHygraphHeader(v)
	if !ok {
		return time.Time{}, "", errMalformed
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	sig, sigErr := base64.StdEncoding.DecodeString(sig64)
	msg, utf := hygraphSigned(r.Body, env, ts)
	// The decimal written back must be the one signed: JSON.stringify of
	// a number has no leading zeros or sign.
	if err != nil || ms < 0 || strconv.FormatInt(ms, 10) != ts || sigErr != nil || !utf {
		return time.Time{}, "", errMalformed
	}
	for _, k := range s.keys {
		m := hmac.New(sha256.New, k)
		m.Write(msg)
		if sum := m.Sum(nil); hmac.Equal(sum, sig) {
			return time.UnixMilli(ms), hexString(sum), nil
		}
	}
	return time.Time{}, "", errNoMatch
}

// hygraph makes gcms-signature for the "master" environment.
func (s *signer) hygraph() error {
	ts := strconv.FormatInt(s.r.Now.UnixMilli(), 10)
	msg, ok := hygraphSigned(s.r.Body, "master", ts)
	if !ok {
		return fmt.Errorf("the body must be UTF-8: Hygraph signs it as a JavaScript string")
	}
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write(msg)
	s.h.Set(s.p.Header, "sign="+base64.StdEncoding.EncodeToString(m.Sum(nil))+", env=master, t="+ts)
	return nil
}
