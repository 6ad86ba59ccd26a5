package verify

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// JSONField returns the value at a dotted path in a JSON body, such as
// "data.object.id" or "events.0.id" (a number indexes an array). Strings,
// numbers and booleans come back as text; objects, arrays, null and missing
// fields give false.
func JSONField(body []byte, path string) (string, bool) {
	raw := json.RawMessage(bytes.TrimSpace(body))
	for _, step := range strings.Split(path, ".") {
		if len(raw) == 0 {
			return "", false
		}
		switch raw[0] {
		case '{':
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil {
				return "", false
			}
			raw = obj[step]
		case '[':
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 {
				return "", false
			}
			var arr []json.RawMessage
			if json.Unmarshal(raw, &arr) != nil || i >= len(arr) {
				return "", false
			}
			raw = arr[i]
		default:
			return "", false
		}
	}
	return scalarText(raw)
}

func scalarText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || ('0' <= c && c <= '9'), c == 't', c == 'f':
		// Validated by the enclosing Unmarshal; keep the sender's spelling
		// of numbers (no float64 rounding of large ids).
		return string(raw), true
	}
	return "", false
}
