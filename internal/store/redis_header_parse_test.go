package store

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// FuzzParsePlainHeaderJSON: what parsePlainHeaderJSON accepts decodes as
// encoding/json decodes it, and what headerJSON writes for plain headers it
// accepts.
func FuzzParsePlainHeaderJSON(f *testing.F) {
	f.Add(`{"Content-Type":["application/json"],"X-Multi":["a","b"]}`)
	f.Add(`{}`)
	f.Add(`{"A":[]}`)
	f.Add(`{"A":null}`)
	f.Add(`{"A":["x"],"A":["y"]}`)
	f.Add(`{"A":["x\"y"]}`)
	f.Add(`{"A":["x"],}`)
	f.Add(`{"A" :["x"]}`)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parsePlainHeaderJSON(s)
		var want http.Header
		err := json.Unmarshal([]byte(s), &want)
		if ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("parsePlainHeaderJSON(%q) = %q; encoding/json: %q, %v", s, got, want, err)
		}
		if err == nil && want != nil {
			if b, err := headerJSON(want); err == nil && plainHeader(want) {
				if _, ok := parsePlainHeaderJSON(string(b)); !ok {
					t.Fatalf("headerJSON wrote %q, which the plain parser refuses", b)
				}
			}
		}
	})
}

// plainHeader reports whether headerJSON writes h without encoding/json.
func plainHeader(h http.Header) bool {
	for name, values := range h {
		if values == nil || !plainJSON(name) {
			return false
		}
		for _, v := range values {
			if !plainJSON(v) {
				return false
			}
		}
	}
	return true
}
