package verify

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify runs one verification per preset on its test vector; the
// standard preset is the gateway's hot path.
func BenchmarkVerify(b *testing.B) {
	seen := map[string]bool{}
	for _, vec := range vectors() {
		if seen[vec.provider] {
			continue
		}
		seen[vec.provider] = true
		b.Run(vec.provider, func(b *testing.B) {
			v := mustNew(b, vec.provider, vec.opts)
			r := vec.request()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("livekit", func(b *testing.B) {
		v := mustNew(b, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}})
		r := livekitRequest(livekitToken(b, lkSecret, lkKey, []byte(lkBody), lkNow, "HS256"), lkBody, lkNow)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyStandard1KB is the load test's request: a 1 KB body.
func BenchmarkVerifyStandard1KB(b *testing.B) {
	body := []byte(`{"data":"` + strings.Repeat("x", 1000) + `"}`)
	ts := time.Unix(1700000000, 0)
	sig, err := SignStandard(stdSecret, "msg_1", ts, body)
	if err != nil {
		b.Fatal(err)
	}
	v := mustNew(b, "standard", secrets(stdSecret))
	r := &Request{Method: "POST", URL: "https://x/", Body: body, Now: ts,
		Header: hdr("webhook-id", "msg_1", "webhook-timestamp", "1700000000", "webhook-signature", sig)}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
