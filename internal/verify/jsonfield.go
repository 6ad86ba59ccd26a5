package verify

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSONField returns the value at a dotted path in a JSON body, such as
// "data.object.id" or "events.0.id" (a number indexes an array). Strings,
// numbers and booleans come back as text; objects, arrays, null and missing
// fields give false, and so does a body that is not valid JSON.
//
// It reads the body in one pass, checking all of it as encoding/json would
// and allocating nothing but the value returned: it runs on every request of
// a preset whose id or event type is in the body, and decoding the body
// into maps cost more than verifying its signature. Where an object repeats
// a key the last one counts, as for encoding/json.
func JSONField(body []byte, path string) (string, bool) {
	s := jsonScan{data: bytes.TrimSpace(body), path: path}
	end, ok := s.value(0, 0, 0)
	if !ok || end != len(s.data) || s.start < 0 {
		return "", false
	}
	return scalarText(s.data[s.start:s.end])
}

// maxJSONDepth is encoding/json's limit on nesting; deeper is invalid.
const maxJSONDepth = 10000

// jsonScan checks a JSON document and finds the span of the value at path.
type jsonScan struct {
	data       []byte
	path       string
	start, end int // of the value found; start < 0 until one is
}

// value checks the value at i, nested depth deep, and returns where it
// ends. step is the offset in path of what is still to find in it, or -1
// when the value is off the path.
func (s *jsonScan) value(i, depth, step int) (int, bool) {
	if depth == 0 {
		s.start = -1
	}
	i = s.space(i)
	if i >= len(s.data) {
		return i, false
	}
	start := i
	var ok bool
	switch c := s.data[i]; {
	case c == '{':
		i, ok = s.object(i, depth+1, step)
	case c == '[':
		i, ok = s.array(i, depth+1, step)
	case c == '"':
		i, ok = s.str(i)
	case c == '-' || ('0' <= c && c <= '9'):
		i, ok = s.number(i)
	case c == 't':
		i, ok = s.literal(i, "true")
	case c == 'f':
		i, ok = s.literal(i, "false")
	case c == 'n':
		i, ok = s.literal(i, "null")
	}
	if ok && step == len(s.path)+1 {
		// The whole path led here.
		s.start, s.end = start, i
	}
	return s.space(i), ok
}

// next is the offset of the step after the one at step ("a" in "a.b"),
// len(path)+1 once the path is done, -1 off the path.
func (s *jsonScan) next(step int) (name string, after int) {
	if step < 0 || step > len(s.path) {
		return "", -1
	}
	rest := s.path[step:]
	if dot := strings.IndexByte(rest, '.'); dot >= 0 {
		return rest[:dot], step + dot + 1
	}
	return rest, len(s.path) + 1
}

func (s *jsonScan) object(i, depth, step int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	name, after := s.next(step)
	i = s.space(i + 1)
	if i < len(s.data) && s.data[i] == '}' {
		return i + 1, true
	}
	for {
		keyStart := i
		end, ok := s.str(i)
		if !ok {
			return i, false
		}
		i = s.space(end)
		if i >= len(s.data) || s.data[i] != ':' {
			return i, false
		}
		into := -1
		if after >= 0 && keyIs(s.data[keyStart:end], name) {
			into = after
			// A later repeat of the key replaces what this one found.
			s.start = -1
		}
		if i, ok = s.value(i+1, depth, into); !ok {
			return i, false
		}
		if i >= len(s.data) {
			return i, false
		}
		switch s.data[i] {
		case ',':
			i = s.space(i + 1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func (s *jsonScan) array(i, depth, step int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	name, after := s.next(step)
	want := -1
	if after >= 0 {
		if n, err := strconv.Atoi(name); err == nil && n >= 0 {
			want = n
		}
	}
	i = s.space(i + 1)
	if i < len(s.data) && s.data[i] == ']' {
		return i + 1, true
	}
	for n := 0; ; n++ {
		into := -1
		if n == want {
			into = after
		}
		var ok bool
		if i, ok = s.value(i, depth, into); !ok {
			return i, false
		}
		if i >= len(s.data) {
			return i, false
		}
		switch s.data[i] {
		case ',':
			i++
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// str checks the string at i and returns where it ends. Any byte from 0x20
// up is allowed in it, as encoding/json allows.
func (s *jsonScan) str(i int) (int, bool) {
	if i >= len(s.data) || s.data[i] != '"' {
		return i, false
	}
	for i++; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(s.data) {
				return i, false
			}
			switch s.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.data) {
					return i, false
				}
				for _, h := range s.data[i+1 : i+5] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func (s *jsonScan) number(i int) (int, bool) {
	d := s.data
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i = s.digits(i)
	default:
		return i, false
	}
	if i < len(d) && d[i] == '.' {
		if j := s.digits(i + 1); j > i+1 {
			i = j
		} else {
			return i, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if j := s.digits(i); j > i {
			i = j
		} else {
			return i, false
		}
	}
	return i, true
}

func (s *jsonScan) digits(i int) int {
	for i < len(s.data) && '0' <= s.data[i] && s.data[i] <= '9' {
		i++
	}
	return i
}

func (s *jsonScan) literal(i int, word string) (int, bool) {
	end := i + len(word)
	if end > len(s.data) || string(s.data[i:end]) != word {
		return i, false
	}
	return end, true
}

func (s *jsonScan) space(i int) int {
	for i < len(s.data) {
		switch s.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// keyIs reports whether a quoted key decodes to name, as encoding/json
// decodes a map key (invalid UTF-8 becomes U+FFFD).
func keyIs(quoted []byte, name string) bool {
	raw := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw) == name
	}
	var key string
	return json.Unmarshal(quoted, &key) == nil && key == name
}

func scalarText(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		if plain := raw[1 : len(raw)-1]; bytes.IndexByte(plain, '\\') < 0 && utf8.Valid(plain) {
			return string(plain), true // as decoded: nothing to unescape
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || ('0' <= c && c <= '9'), c == 't', c == 'f':
		// Checked by the scan; keep the sender's spelling of numbers (no
		// float64 rounding of large ids).
		return string(raw), true
	}
	return "", false
}
