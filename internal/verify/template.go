package verify

import (
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"strings"
)

type partKind uint8

const (
	partLiteral partKind = iota
	partBody
	partTimestamp
	partID
	partURL
	partMethod
	partHeader
	partSecret // plain-hash schemes only (Cloudinary appends its secret)
)

type part struct {
	kind   partKind
	lit    []byte // partLiteral
	header string // partHeader, canonical
}

// template is a compiled signed-content template such as
// "{id}.{timestamp}.{body}".
type template []part

// signedVars are the values a template refers to.
type signedVars struct {
	body      []byte
	timestamp string
	id        string
	url       string
	method    string
	secret    string
	header    http.Header
}

func parseTemplate(s string, allowSecret bool) (template, error) {
	var t template
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			t = append(t, part{kind: partLiteral, lit: []byte(s)})
			break
		}
		if open > 0 {
			t = append(t, part{kind: partLiteral, lit: []byte(s[:open])})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("`signed` template has an unclosed '{' in %q", s)
		}
		name := s[open+1 : open+end]
		s = s[open+end+1:]
		switch {
		case name == "body":
			t = append(t, part{kind: partBody})
		case name == "timestamp":
			t = append(t, part{kind: partTimestamp})
		case name == "id":
			t = append(t, part{kind: partID})
		case name == "url":
			t = append(t, part{kind: partURL})
		case name == "method":
			t = append(t, part{kind: partMethod})
		case name == "secret" && allowSecret:
			t = append(t, part{kind: partSecret})
		case strings.HasPrefix(name, "header.") && len(name) > len("header."):
			t = append(t, part{kind: partHeader, header: textproto.CanonicalMIMEHeaderKey(name[len("header."):])})
		default:
			return nil, fmt.Errorf("`signed` template has unknown placeholder {%s}; use {body} {timestamp} {id} {url} {method} {header.Name}", name)
		}
	}
	if !t.uses(partBody) {
		return nil, fmt.Errorf("`signed` template must contain {body}, or the body would not be signed")
	}
	return t, nil
}

func (t template) uses(k partKind) bool {
	for _, p := range t {
		if p.kind == k {
			return true
		}
	}
	return false
}

// write feeds the signed content to w part by part, so the body is never
// copied. scratch carries string parts, as hash.Hash takes only []byte.
func (t template) write(w hash.Hash, v *signedVars, scratch *[]byte) {
	for _, p := range t {
		switch p.kind {
		case partLiteral:
			w.Write(p.lit)
		case partBody:
			w.Write(v.body)
		case partTimestamp:
			writeString(w, v.timestamp, scratch)
		case partID:
			writeString(w, v.id, scratch)
		case partURL:
			writeString(w, v.url, scratch)
		case partMethod:
			writeString(w, v.method, scratch)
		case partSecret:
			writeString(w, v.secret, scratch)
		case partHeader:
			if vals := v.header[p.header]; len(vals) > 0 {
				writeString(w, vals[0], scratch)
			}
		}
	}
}

// appendTo returns the signed content as one slice, for schemes (ed25519)
// that sign the message rather than its hash.
func (t template) appendTo(dst []byte, v *signedVars) []byte {
	for _, p := range t {
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.lit...)
		case partBody:
			dst = append(dst, v.body...)
		case partTimestamp:
			dst = append(dst, v.timestamp...)
		case partID:
			dst = append(dst, v.id...)
		case partURL:
			dst = append(dst, v.url...)
		case partMethod:
			dst = append(dst, v.method...)
		case partSecret:
			dst = append(dst, v.secret...)
		case partHeader:
			if vals := v.header[p.header]; len(vals) > 0 {
				dst = append(dst, vals[0]...)
			}
		}
	}
	return dst
}

func writeString(w hash.Hash, s string, scratch *[]byte) {
	*scratch = append((*scratch)[:0], s...)
	w.Write(*scratch)
}
