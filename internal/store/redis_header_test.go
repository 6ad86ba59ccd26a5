package store

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// FuzzHeaderJSON: headerJSON decodes to what json.Marshal's output does.
func FuzzHeaderJSON(f *testing.F) {
	f.Add("Content-Type", "application/json", "X-Multi", "b")
	f.Add("Webhook-Signature", `v1,abc+/= "quoted" \ back`, "X-Ctl", "tab\there\x00")
	f.Add("X-Utf8", "héllo <&>", "X-Bad", "\xff\xfe")
	f.Add("", "", "X-Empty", "")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		for _, h := range []http.Header{nil, {}, {n1: {v1}, n2: {v2, v1}}, {n1: nil}, {n2: {}}} {
			got, err := headerJSON(h)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(h)
			var a, b http.Header
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatalf("headerJSON(%q) = %q: %v", h, got, err)
			}
			_ = json.Unmarshal(want, &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("headerJSON(%q) = %q, decodes to %q; json.Marshal gives %q", h, got, a, want)
			}
		}
	})
}
