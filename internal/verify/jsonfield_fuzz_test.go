package verify

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// jsonFieldStd is JSONField as encoding/json reads the body: one map or
// slice decoded per step. JSONField must agree with it on every input.
func jsonFieldStd(body []byte, path string) (string, bool) {
	raw := json.RawMessage(bytes.TrimSpace(body))
	if !json.Valid(raw) {
		return "", false
	}
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

func FuzzJSONFieldAgrees(f *testing.F) {
	for _, seed := range []struct{ body, path string }{
		{`{"type":"video.asset.ready","id":"e1"}`, "type"},
		{`{"a":{"b":[1,{"c":"\u00e9\"x"}]}}`, "a.b.1.c"},
		{`{"a":1,"a":{"b":2}}`, "a.b"},
		{`{"a":{"b":2},"a":3}`, "a.b"},
		{`{"\u0074ype":"x"}`, "type"},
		{"{\"k\xff\":1}", "k\xef\xbf\xbd"},
		{` [0, -1.5e+3, true, false, null, "s"] `, "1"},
		{`{"a":[1,2]}`, "a.+1"},
		{`{"":{"":7}}`, "."},
		{`{"a":01}`, "a"},
		{`{"a":"\x01"}`, "a"},
		{`{"a":1,}`, "a"},
		{`{"a":"\u12"}`, "a"},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "0"},
		{"\f{\"a\":1}\u00a0", "a"},
	} {
		f.Add([]byte(seed.body), seed.path)
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		got, ok := JSONField(body, path)
		want, wantOK := jsonFieldStd(body, path)
		if got != want || ok != wantOK {
			t.Errorf("JSONField(%q, %q) = %q, %v; encoding/json: %q, %v", body, path, got, ok, want, wantOK)
		}
	})
}

// TestJSONFieldAllocs: the scan allocates nothing but the value returned.
func TestJSONFieldAllocs(t *testing.T) {
	body := []byte(`{"type":"render.completed","id":"evt_1","data":{"x":[1,2,{"y":"` + strings.Repeat("x", 900) + `"}]}}`)
	if n := testing.AllocsPerRun(100, func() { JSONField(body, "data.x.1") }); n > 1 {
		t.Errorf("%v allocations for a number", n)
	}
}

func BenchmarkJSONField(b *testing.B) {
	body := []byte(`{"type":"render.completed","id":"evt_1","data":"` + strings.Repeat("x", 900) + `"}`)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			JSONField(body, "type")
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			jsonFieldStd(body, "type")
		}
	})
}
