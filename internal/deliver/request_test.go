package deliver

import (
	"net/http"
	"reflect"
	"testing"
)

// TestEndToEnd: what is queued and passed on keeps the sender's headers,
// without hop-by-hop ones (also those Connection names, in any case) or the
// gateway's own; the headers it was given are left as they were.
func TestEndToEnd(t *testing.T) {
	in := http.Header{
		"Content-Type":        {"application/json"},
		"Webhook-Signature":   {"v1,abc"},
		"X-Multi":             {"a", "b"},
		"x-lower":             {"kept"},
		"Connection":          {"keep-alive, X-Hop, x-other-hop"},
		"X-Hop":               {"1"},
		"X-Other-Hop":         {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Connection":    {"keep-alive"},
		"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
		"Proxy-Anything":      {"x"},
		"Te":                  {"trailers"},
		"Trailer":             {"X-Trailer"},
		"Transfer-Encoding":   {"chunked"},
		"Upgrade":             {"websocket"},
		"Content-Length":      {"12"},
		"Host":                {"example.com"},
		"Webhook-Id":          {"sender-chosen"},
		"Webhook-Provider":    {"sender-chosen"},
		"Webhook-Attempt":     {"7"},
	}
	before := in.Clone()
	got := EndToEnd(in)
	want := http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Signature": {"v1,abc"},
		"X-Multi":           {"a", "b"},
		"X-Lower":           {"kept"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EndToEnd = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("the headers given changed: %v, were %v", in, before)
	}
}
