package store

import (
	"net/http"
	"strings"
)

// parsePlainHeaderJSON reads what headerJSON writes without reflection:
// an object of arrays of strings, without whitespace, escapes or bytes
// outside printable ASCII. Anything else is not ok, for encoding/json.
func parsePlainHeaderJSON(s string) (http.Header, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	h := make(http.Header, 8)
	rest := s[1 : len(s)-1]
	str := func() (string, bool) {
		if len(rest) < 2 || rest[0] != '"' {
			return "", false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return "", false
		}
		v := rest[1 : 1+end]
		rest = rest[2+end:]
		return v, plainJSON(v)
	}
	for len(rest) > 0 {
		name, ok := str()
		if !ok || !strings.HasPrefix(rest, ":[") {
			return nil, false
		}
		rest = rest[2:]
		values := make([]string, 0, 1)
		for !strings.HasPrefix(rest, "]") {
			if len(values) > 0 {
				if !strings.HasPrefix(rest, ",") {
					return nil, false
				}
				rest = rest[1:]
			}
			v, ok := str()
			if !ok {
				return nil, false
			}
			values = append(values, v)
		}
		rest = rest[1:]
		if _, dup := h[name]; dup {
			return nil, false // encoding/json keeps the last; rare enough
		}
		h[name] = values
		if len(rest) > 0 {
			if rest[0] != ',' {
				return nil, false
			}
			rest = rest[1:]
			if rest == "" {
				return nil, false
			}
		}
	}
	return h, true
}
