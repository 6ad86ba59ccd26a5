package verify

import (
	"net/http"
	"testing"
)

// Schemes that sign the body as they parse it give one Content to every
// body that verifies alike, so that a resend with its bytes reshuffled is
// still the same event.
func TestCanonicalContent(t *testing.T) {
	cases := []struct {
		provider, url string
		header        http.Header
		body          string
		variants      []string // verify alike, differ in bytes
	}{
		{
			provider: "twilio", url: "https://hooks.example.com/twilio",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body:   "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234",
			variants: []string{
				"Digits=1234&Caller=%2B12349013030&CallSid=CA1234567890ABCDE",
				"CallSid=C%41%31234567890ABCDE&Caller=%2B12349013030&Digits=1234",
				"&CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&",
			},
		},
		{
			provider: "jwplayer", url: "https://hooks.example.com/jw",
			header: http.Header{"Content-Type": {"application/json"}},
			body:   `{"event":"channel_active","webhook_id":"wh_1","channel_id":"ch_1"}`,
			variants: []string{
				"{\n  \"event\": \"channel_active\",\n  \"webhook_id\": \"wh_1\",\n  \"channel_id\": \"ch_1\"\n}",
				`{"channel_id":"ch_1","webhook_id":"wh_1","event":"channel_active"} `,
			},
		},
	}
	for _, c := range cases {
		opts := Options{Secrets: []string{"content-test-secret"}}
		signed, _, err := Sign(c.provider, opts, SignRequest{URL: c.url, Body: []byte(c.body), Header: c.header})
		if err != nil {
			t.Fatal(err)
		}
		v := mustNew(t, c.provider, opts)
		want, err := v.Verify(&Request{Method: "POST", URL: c.url, Header: signed, Body: []byte(c.body)})
		if err != nil || want.Content == "" {
			t.Fatalf("%s: %v, content %q", c.provider, err, want.Content)
		}
		for _, variant := range c.variants {
			got, err := v.Verify(&Request{Method: "POST", URL: c.url, Header: signed, Body: []byte(variant)})
			if err != nil {
				t.Fatalf("%s: the variant %q does not verify (%v): nothing to test", c.provider, variant, err)
			}
			if got.Content != want.Content {
				t.Errorf("%s: %q verifies as the original but has another content", c.provider, variant)
			}
		}
	}
	// A scheme that signs the body byte for byte has no canonical form.
	opts := Options{Secrets: []string{"content-test-secret"}}
	signed, _, _ := Sign("github", opts, SignRequest{Body: []byte(`{}`)})
	if res, _ := mustNew(t, "github", opts).Verify(&Request{Method: "POST", Header: signed, Body: []byte(`{}`)}); res.Content != "" {
		t.Errorf("github: content %q, want none", res.Content)
	}
}
