package verify

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustNew(t testing.TB, provider string, o Options) *Verifier {
	t.Helper()
	v, err := New(provider, o)
	if err != nil {
		t.Fatalf("New(%q): %v", provider, err)
	}
	return v
}

func TestVectors(t *testing.T) {
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			v := mustNew(t, vec.provider, vec.opts)
			res, err := v.Verify(vec.request())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.ID != vec.wantID {
				t.Errorf("ID = %q, want %q", res.ID, vec.wantID)
			}
			if v.SignsTimestamp() != !vec.signedAt.IsZero() {
				t.Errorf("SignsTimestamp = %v", v.SignsTimestamp())
			}
			if (res.Nonce != "") != v.SignsTimestamp() {
				t.Errorf("Nonce = %q with SignsTimestamp %v", res.Nonce, v.SignsTimestamp())
			}
			again, _ := v.Verify(vec.request())
			if again.Nonce != res.Nonce {
				t.Errorf("the same request gave nonces %q and %q", res.Nonce, again.Nonce)
			}
		})
	}
}

func vectorNamed(t *testing.T, name string) vector {
	t.Helper()
	for _, v := range vectors() {
		if v.name == name {
			return v
		}
	}
	t.Fatalf("no vector %q", name)
	return vector{}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestTamperedBody(t *testing.T) {
	for _, vec := range vectors() {
		if vec.bodyFree {
			continue
		}
		t.Run(vec.name, func(t *testing.T) {
			r := vec.request()
			r.Body = append(r.Body, ' ')
			if vec.tampered != "" {
				r.Body = []byte(vec.tampered)
			}
			_, err := mustNew(t, vec.provider, vec.opts).Verify(r)
			wantErr(t, err, ErrInvalidSignature)
		})
	}
}

func TestWrongSecret(t *testing.T) {
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			_, err := mustNew(t, vec.provider, vec.wrong).Verify(vec.request())
			wantErr(t, err, ErrInvalidSignature)
		})
	}
}

// TestRotation: with several secrets or keys configured, any one may match,
// in any order.
func TestRotation(t *testing.T) {
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			o := vec.opts
			o.Secrets = slices.Concat(vec.wrong.Secrets, vec.opts.Secrets)
			o.PublicKeys = slices.Concat(vec.wrong.PublicKeys, vec.opts.PublicKeys)
			if _, err := mustNew(t, vec.provider, o).Verify(vec.request()); err != nil {
				t.Fatalf("wrong then right: %v", err)
			}
			o.Secrets = slices.Concat(vec.opts.Secrets, vec.wrong.Secrets)
			o.PublicKeys = slices.Concat(vec.opts.PublicKeys, vec.wrong.PublicKeys)
			if _, err := mustNew(t, vec.provider, o).Verify(vec.request()); err != nil {
				t.Fatalf("right then wrong: %v", err)
			}
		})
	}
}

func TestMissingHeader(t *testing.T) {
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			r := vec.request()
			switch {
			case vec.unsigned != "":
				r.Body = []byte(vec.unsigned)
			case vec.sigHdr != "":
				r.Header.Del(vec.sigHdr)
			default:
				r.URL = "https://hooks.example.com/shotstack"
			}
			_, err := mustNew(t, vec.provider, vec.opts).Verify(r)
			wantErr(t, err, ErrInvalidSignature)
		})
	}
}

// TestTimestampWindow pins Now around each vector's signing time: inside
// the window on both edges it verifies; one second beyond, in the past or
// the future, it fails with ErrTimestamp.
func TestTimestampWindow(t *testing.T) {
	for _, vec := range vectors() {
		if vec.signedAt.IsZero() {
			continue
		}
		t.Run(vec.name, func(t *testing.T) {
			v := mustNew(t, vec.provider, vec.opts)
			tol := v.Tolerance()
			if tol <= 0 {
				t.Fatalf("Tolerance = %v for a timestamped preset", tol)
			}
			for _, c := range []struct {
				name string
				now  time.Time
				want error
			}{
				{"at the old edge", vec.signedAt.Add(tol), nil},
				{"at the future edge", vec.signedAt.Add(-tol), nil},
				{"stale", vec.signedAt.Add(tol + time.Second), ErrTimestamp},
				{"future", vec.signedAt.Add(-tol - time.Second), ErrTimestamp},
			} {
				r := vec.request()
				r.Now = c.now
				_, err := v.Verify(r)
				if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
					t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
				}
			}
			off := time.Duration(0)
			o := vec.opts
			o.Tolerance = &off
			v = mustNew(t, vec.provider, o)
			r := vec.request()
			r.Now = vec.signedAt.Add(1000 * time.Hour)
			if _, err := v.Verify(r); err != nil || v.Tolerance() != 0 {
				t.Errorf("tolerance 0: err = %v, Tolerance = %v", err, v.Tolerance())
			}
		})
	}
}

// TestStaleSignatureIsInvalidFirst: a forged request with a stale timestamp
// is reported as a bad signature, not as a clock problem.
func TestStaleSignatureIsInvalidFirst(t *testing.T) {
	v := mustNew(t, "standard", secrets(stdWrong))
	r := vectors()[0].request()
	r.Now = r.Now.Add(time.Hour)
	_, err := v.Verify(r)
	wantErr(t, err, ErrInvalidSignature)
}

func TestNonce(t *testing.T) {
	vec := vectors()[0]
	v := mustNew(t, "standard", vec.opts)
	first, err := v.Verify(vec.request())
	if err != nil {
		t.Fatal(err)
	}
	// Padding the header with extra signatures must not change the nonce
	// of the same signed request.
	r := vec.request()
	r.Header.Set("webhook-signature", "v1,AAAA "+stdSig+" v2,zzz")
	padded, err := v.Verify(r)
	if err != nil || padded.Nonce != first.Nonce {
		t.Errorf("padded header: nonce %q vs %q, err %v", padded.Nonce, first.Nonce, err)
	}
	// A retry re-signed with a new timestamp has a new nonce.
	ts := time.Unix(1614265400, 0)
	sig, err := SignStandard(stdSecret, stdID, ts, []byte(stdBody))
	if err != nil {
		t.Fatal(err)
	}
	r = vec.request()
	r.Header.Set("webhook-timestamp", "1614265400")
	r.Header.Set("webhook-signature", sig)
	retry, err := v.Verify(r)
	if err != nil || retry.Nonce == first.Nonce || retry.ID != first.ID {
		t.Errorf("re-signed retry: %+v vs %+v, err %v", retry, first, err)
	}
}

// TestUppercaseHexSameNonce: re-encoding a hex signature is the same
// signed request, so it must not get a fresh nonce.
func TestUppercaseHexSameNonce(t *testing.T) {
	vec := vectorNamed(t, "stripe SDK vector")
	v := mustNew(t, "stripe", vec.opts)
	a, err := v.Verify(vec.request())
	if err != nil {
		t.Fatal(err)
	}
	r := vec.request()
	r.Header.Set("Stripe-Signature", "t=1700000000,v1="+strings.ToUpper("d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"))
	b, err := v.Verify(r)
	if err != nil || a.Nonce != b.Nonce {
		t.Errorf("uppercase hex: nonce %q vs %q, err %v", b.Nonce, a.Nonce, err)
	}
}

func TestSignStandard(t *testing.T) {
	got, err := SignStandard(stdSecret, stdID, time.Unix(1614265330, 0), []byte(stdBody))
	if err != nil || got != stdSig {
		t.Fatalf("SignStandard = %q, %v; want %q", got, err, stdSig)
	}
	if _, err := SignStandard("whsec_!!!", stdID, time.Now(), nil); err == nil {
		t.Fatal("SignStandard accepted a secret that is not base64")
	}
}

func TestMalformedHeaders(t *testing.T) {
	std := vectors()[0]
	cases := []struct {
		name, provider string
		opts           Options
		header         map[string]string
	}{
		{"standard: no v1 item", "standard", std.opts, map[string]string{"webhook-signature": "v1a,AAAA"}},
		{"standard: bad timestamp", "standard", std.opts, map[string]string{"webhook-timestamp": "yesterday"}},
		{"standard: no id", "standard", std.opts, map[string]string{"webhook-id": ""}},
		{"standard: not base64", "standard", std.opts, map[string]string{"webhook-signature": "v1,!!!!"}},
		{"standard: too many signatures", "standard", std.opts,
			map[string]string{"webhook-signature": strings.Repeat("v1,AAAA ", maxSignatures) + stdSig}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := std.request()
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			_, err := mustNew(t, c.provider, c.opts).Verify(r)
			wantErr(t, err, ErrInvalidSignature)
		})
	}
	kv := []string{
		"v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990", // no t
		"t=1700000000", // no v1
		"t=1700000000,t=1700000001,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990",
		"t=abc,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990",
		"t=1700000000,v0=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990", // only v0
		"t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b9",   // short
	}
	stripe := vectorNamed(t, "stripe SDK vector")
	for _, h := range kv {
		r := stripe.request()
		r.Header.Set("Stripe-Signature", h)
		_, err := mustNew(t, "stripe", stripe.opts).Verify(r)
		wantErr(t, err, ErrInvalidSignature)
	}
}

func TestErrorsRevealNothing(t *testing.T) {
	for _, vec := range vectors() {
		r := vec.request()
		r.Body = append(r.Body, 'x')
		_, err := mustNew(t, vec.provider, vec.opts).Verify(r)
		if err == nil {
			continue
		}
		for _, s := range slices.Concat(vec.opts.Secrets, vec.opts.PublicKeys) {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q contains a secret", vec.name, err)
			}
		}
		for _, vals := range vec.header {
			for _, val := range vals {
				if len(val) > 8 && strings.Contains(err.Error(), val) {
					t.Errorf("%s: error %q contains header value %q", vec.name, err, val)
				}
			}
		}
	}
}

func TestEveryPresetHasAVectorAndASource(t *testing.T) {
	tested := map[string]bool{"livekit": true} // round trip in livekit_test.go
	for _, vec := range vectors() {
		tested[vec.provider] = true
	}
	for _, p := range presets {
		if !tested[p.Name] {
			t.Errorf("preset %s has no vector", p.Name)
		}
		if p.Source == "" {
			t.Errorf("preset %s has no documented source", p.Name)
		}
		if p.Proof == "" {
			t.Errorf("preset %s does not say how it is proven", p.Name)
		}
	}
}

func TestProviders(t *testing.T) {
	got := Providers()
	if !slices.IsSorted(got) || len(got) != len(presets) {
		t.Fatalf("Providers() = %v", got)
	}
	for _, want := range []string{"standard", "svix", "stripe", "github", "slack", "shopify", "twilio", "mux",
		"cloudinary", "contentful", "livekit", "discord", "sendgrid", "shotstack", "hmac", "token", "basic"} {
		if !slices.Contains(got, want) {
			t.Errorf("Providers() lacks %s", want)
		}
	}
}

func TestAccessors(t *testing.T) {
	cases := []struct {
		provider  string
		opts      Options
		tolerance time.Duration
		signsTS   bool
		hasID     bool
	}{
		{"standard", secrets(stdSecret), 5 * time.Minute, true, true},
		{"stripe", secrets("whsec_x"), 300 * time.Second, true, true},
		{"github", secrets("x"), 0, false, true},
		{"slack", secrets("x"), 5 * time.Minute, true, true},
		{"cloudinary", secrets("x"), 7200 * time.Second, true, false},
		{"contentful", secrets("x"), 30 * time.Second, true, false},
		{"discord", Options{PublicKeys: []string{discordPub}}, 5 * time.Minute, true, true},
		{"sendgrid", sendgridOK, 10 * time.Minute, true, false},
		{"livekit", Options{Secrets: []string{"x"}, KeyID: "k"}, 5 * time.Minute, true, true},
		{"twilio", secrets("x"), 0, false, true},
		{"shotstack", secrets("x"), 0, false, true},
		{"hmac", Options{Secrets: []string{"x"}, Header: "X-Sig"}, 0, false, false},
		{"hmac", Options{Secrets: []string{"x"}, Header: "X-Sig", IDHeader: "X-Id"}, 0, false, true},
		{"basic", secrets("u:p"), 0, false, false},
	}
	for _, c := range cases {
		v := mustNew(t, c.provider, c.opts)
		if v.Tolerance() != c.tolerance || v.SignsTimestamp() != c.signsTS || v.HasEventID() != c.hasID {
			t.Errorf("%s: Tolerance %v SignsTimestamp %v HasEventID %v; want %v %v %v", c.provider,
				v.Tolerance(), v.SignsTimestamp(), v.HasEventID(), c.tolerance, c.signsTS, c.hasID)
		}
	}
}

// TestZeroNowUsesTheClock: a request signed just now verifies without
// pinning Now.
func TestZeroNowUsesTheClock(t *testing.T) {
	now := time.Now()
	sig, err := SignStandard(stdSecret, "msg_1", now, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Request{Method: "POST", URL: "https://x/", Body: []byte("{}"),
		Header: hdr("webhook-id", "msg_1", "webhook-timestamp", strconv.FormatInt(now.Unix(), 10), "webhook-signature", sig)}
	if _, err := mustNew(t, "standard", secrets(stdSecret)).Verify(r); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentVerify shares one Verifier across goroutines, as Caddy
// does; run with -race.
func TestConcurrentVerify(t *testing.T) {
	vec := vectorNamed(t, "standard webhooks SDK vector")
	v := mustNew(t, vec.provider, secrets(stdWrong, stdSecret))
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 200 {
				if _, err = v.Verify(vec.request()); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
