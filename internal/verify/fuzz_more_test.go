package verify

import (
	"testing"
)

// Fuzzers of the parsing the later presets added: headers that carry more
// than a signature (Hygraph's environment and time, Livepeer's list, a JWT,
// fal's four headers) and Braintree's form.

func FuzzHygraphHeader(f *testing.F) {
	fuzzVerify(f, "hygraph independent vector", "gcms-signature")
}

func FuzzLivepeerHeader(f *testing.F) {
	fuzzVerify(f, "livepeer independent vector (timestamp in the body)", "Livepeer-Signature")
}

func FuzzPlaidToken(f *testing.F) {
	fuzzVerify(f, "plaid (Go ES256, key from a local TLS server)", plaidHeader)
}

func FuzzFalTimestamp(f *testing.F) {
	fuzzVerify(f, "fal (Go ed25519, key set from a local TLS server)", falTimestamp)
}

// FuzzBraintreeBody: an accepted form carries the vector's own payload.
func FuzzBraintreeBody(f *testing.F) {
	vec := vectorNamedF(f, "braintree independent vector (two signature pairs)")
	v := mustNew(f, vec.provider, vec.opts)
	want, err := v.Verify(vec.request())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(vec.body)
	f.Fuzz(func(t *testing.T, body string) {
		r := vec.request()
		r.Body = []byte(body)
		if got, err := v.Verify(r); err == nil && got.Content != want.Content {
			t.Fatalf("accepted %q with another payload", body)
		}
	})
}
