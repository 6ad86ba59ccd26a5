package verify

import (
	"testing"
)

// fuzzBody feeds fuzzed bodies to a vector's verifier and asserts that an
// accepted body is the vector's own signed request (same id and nonce).
func fuzzBody(f *testing.F, name string) {
	vec := vectorNamedF(f, name)
	v := mustNew(f, vec.provider, vec.opts)
	want, err := v.Verify(vec.request())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(vec.body)
	if vec.tampered != "" {
		f.Add(vec.tampered)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := vec.request()
		r.Body = []byte(body)
		got, err := v.Verify(r)
		if err == nil && got.Nonce != want.Nonce {
			t.Fatalf("accepted %q as a different request: %+v vs %+v", body, got, want)
		}
	})
}

// FuzzSNSBody: the signature covers the canonical fields, so no accepted
// body may change them (the MessageId is the dedup id).
func FuzzSNSBody(f *testing.F) {
	ids := map[string]bool{}
	var v *Verifier
	var base vector
	for _, name := range []string{"sns notification, SignatureVersion 1 (SHA1withRSA)", "sns subscription confirmation, SignatureVersion 2"} {
		vec := vectorNamedF(f, name)
		base, v = vec, mustNew(f, vec.provider, vec.opts)
		res, err := v.Verify(vec.request())
		if err != nil {
			f.Fatal(err)
		}
		ids[res.ID] = true
		f.Add(vec.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := base.request()
		r.Body = []byte(body)
		got, err := v.Verify(r)
		if err == nil && !ids[got.ID] {
			t.Fatalf("accepted %q with id %q", body, got.ID)
		}
	})
}

func FuzzMailgunBody(f *testing.F) { fuzzBody(f, "mailgun independent vector (signature in the body)") }

func FuzzJWPlayerBearer(f *testing.F) {
	f.Add("bearer  x.y.z")
	fuzzVerify(f, "jwplayer HS256 token whose claims are the body", "Authorization")
}

func FuzzPubSubBearer(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.")
	fuzzVerify(f, "pubsub push OIDC token", "Authorization")
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer a.b.c", "bearer   a.b.c  ", "Basic a", "Bearer", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		tok := bearerToken(value)
		if tok != "" && (len(tok) >= len(value) || tok[0] == ' ') {
			t.Fatalf("bearerToken(%q) = %q", value, tok)
		}
	})
}
