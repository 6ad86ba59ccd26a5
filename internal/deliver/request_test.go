package deliver

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
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

// Webhook-Attempt counts on across a redrive: the attempts made before it
// and those since.
func TestWebhookAttemptAcrossRedrive(t *testing.T) {
	w := NewWorker(newFakeQueue(), testDestination("http://127.0.0.1:1/"), "c", nil, nil, nil)
	for _, c := range []struct{ attempts, earlier int }{{1, 0}, {3, 0}, {1, 12}, {2, 12}} {
		req, err := w.newRequest(context.Background(), store.Delivery{Event: testEvent("evt_n"), Attempts: c.attempts, EarlierAttempts: c.earlier})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := req.Header.Get("Webhook-Attempt"), c.attempts+c.earlier; got != strconv.Itoa(want) {
			t.Errorf("attempt %d after %d earlier: Webhook-Attempt %s, want %d", c.attempts, c.earlier, got, want)
		}
	}
}
