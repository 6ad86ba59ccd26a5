package webhookingress

import (
	"net/http"
	"reflect"
	"testing"
)

// TestSenderHeaders: the queued event keeps the sender's headers, without
// hop-by-hop ones (also those Connection names) or the gateway's own; the
// request's headers are left as they were.
func TestSenderHeaders(t *testing.T) {
	in := http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Signature": {"v1,abc"},
		"X-Multi":           {"a", "b"},
		"Connection":        {"keep-alive, X-Hop"},
		"X-Hop":             {"1"},
		"Keep-Alive":        {"timeout=5"},
		"Transfer-Encoding": {"chunked"},
		"Content-Length":    {"12"},
		"Host":              {"example.com"},
		"Webhook-Id":        {"sender-chosen"},
		"Webhook-Attempt":   {"7"},
	}
	before := in.Clone()
	got := senderHeaders(in)
	want := http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Signature": {"v1,abc"},
		"X-Multi":           {"a", "b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("senderHeaders = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("the request's headers changed: %v, were %v", in, before)
	}
}
