package verify

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkParsed asserts the invariants of any parsed signature header.
func checkParsed(t *testing.T, value string, h sigHeader, ok bool, f listFormat) {
	if !ok {
		return
	}
	if h.n < 1 || h.n > maxSignatures {
		t.Fatalf("%d signatures from %q", h.n, value)
	}
	for _, s := range h.sigs[:h.n] {
		if s == "" || !strings.Contains(value, s) {
			t.Fatalf("signature %q is not part of %q", s, value)
		}
	}
	if f.carriesTimestamp() && (h.ts == "" || !strings.Contains(value, f.tsKey+"="+h.ts)) {
		t.Fatalf("timestamp %q not in %q", h.ts, value)
	}
}

// fuzzVerify feeds one fuzzed header into a vector and asserts that an
// accepted request is the vector's own signed request (same nonce).
func fuzzVerify(f *testing.F, name, header string) {
	vec := vectorNamedF(f, name)
	v := mustNew(f, vec.provider, vec.opts)
	want, err := v.Verify(vec.request())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(vec.header.Get(header))
	f.Fuzz(func(t *testing.T, value string) {
		r := vec.request()
		r.Header.Set(header, value)
		got, err := v.Verify(r)
		if err == nil && got != want {
			t.Fatalf("accepted %q as a different request: %+v vs %+v", value, got, want)
		}
	})
}

func vectorNamedF(f *testing.F, name string) vector {
	for _, v := range vectors() {
		if v.name == name {
			return v
		}
	}
	f.Fatalf("no vector %q", name)
	return vector{}
}

func FuzzKVList(f *testing.F) {
	f.Add("t=1565125718,v1=invalid,v1=bd315c24bce1c2b8ad325696f26530c8ef7d7d830afb7c1381903705d04607be")
	f.Add("t=1700000000,v1=aa,v0=bb, v1=cc ,x")
	format := kvList(',', "t", "v1")
	f.Fuzz(func(t *testing.T, value string) {
		h, ok := parseSigHeader(value, format, "")
		checkParsed(t, value, h, ok, format)
	})
}

func FuzzStripeHeader(f *testing.F) {
	f.Add("t=1700000000,v1=00,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990,v0=00")
	fuzzVerify(f, "stripe SDK vector", "Stripe-Signature")
}

func FuzzPaddleList(f *testing.F) {
	f.Add("ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9")
	f.Add("ts=1;h1=a;h1=b;;h2=c")
	format := kvList(';', "ts", "h1")
	f.Fuzz(func(t *testing.T, value string) {
		h, ok := parseSigHeader(value, format, "")
		checkParsed(t, value, h, ok, format)
	})
}

func FuzzPaddleHeader(f *testing.F) {
	fuzzVerify(f, "paddle SDK vector", "Paddle-Signature")
}

func FuzzSpaceList(f *testing.F) {
	f.Add(stdSig)
	f.Add("v1a,AAAA v1,bm90 " + stdSig + "  v2,x")
	f.Fuzz(func(t *testing.T, value string) {
		h, ok := parseSigHeader(value, spaceList, "v1,")
		checkParsed(t, value, h, ok, spaceList)
	})
}

func FuzzStandardHeader(f *testing.F) {
	f.Add("v1,AAAA " + stdSig)
	fuzzVerify(f, "standard webhooks SDK vector", "webhook-signature")
}

func FuzzPrefix(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "sha256=")
	f.Add("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0=")
	f.Fuzz(func(t *testing.T, value, prefix string) {
		h, ok := parseSigHeader(value, listFormat{}, prefix)
		checkParsed(t, value, h, ok, listFormat{})
		if ok && !strings.HasPrefix(strings.TrimSpace(value), prefix) {
			t.Fatalf("%q accepted without prefix %q", value, prefix)
		}
	})
}

func FuzzGitHubHeader(f *testing.F) {
	fuzzVerify(f, "github docs vector", "X-Hub-Signature-256")
}

func FuzzDecodeSig(f *testing.F) {
	f.Add("hex", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	f.Add("base64", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add("base64", "yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0")
	f.Add("base64url", "g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE")
	f.Fuzz(func(t *testing.T, encoding, s string) {
		var dst [64]byte
		n, ok := decodeSig(dst[:], encoding, s)
		if !ok {
			return
		}
		var want []byte
		var err error
		if encoding == "hex" {
			want, err = hex.DecodeString(s)
		} else {
			want, err = base64Encoding(encoding, s).DecodeString(s)
		}
		if err != nil || string(want) != string(dst[:n]) {
			t.Fatalf("decodeSig(%q, %q) = %x, reference %x (%v)", encoding, s, dst[:n], want, err)
		}
		long, ok := decodeLong(encoding, s)
		if !ok || string(long) != string(want) {
			t.Fatalf("decodeLong(%q, %q) = %x, %v", encoding, s, long, ok)
		}
	})
}

func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"1614265330", "1700000000000", "2023-11-14T22:13:20.123456789Z", "2023-11-14T22:13:20+02:00", "-1", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, format := range []string{"unix", "unix_ms"} {
			ts, ok := parseTimestamp(format, s)
			n, err := strconv.ParseInt(s, 10, 64)
			if ok != (err == nil) || ok && format == "unix" && ts.Unix() != n {
				t.Fatalf("%s %q -> %v, %v", format, s, ts, ok)
			}
		}
		ts, ok := parseTimestamp("rfc3339", s)
		if !ok {
			return
		}
		back, err := time.Parse(time.RFC3339Nano, ts.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(ts) {
			t.Fatalf("rfc3339 %q -> %v does not round-trip (%v)", s, ts, err)
		}
	})
}

func FuzzJWT(f *testing.F) {
	good := livekitToken(f, lkSecret, lkKey, []byte(lkBody), lkNow, "HS256")
	f.Add(good)
	f.Add("Bearer " + good)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJBUElhYmMxMjMifQ.")
	v := mustNew(f, "livekit", Options{KeyID: lkKey, Secrets: []string{lkSecret}})
	want, err := v.Verify(livekitRequest(good, lkBody, lkNow))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := v.Verify(livekitRequest(token, lkBody, lkNow))
		if err == nil && got != want {
			t.Fatalf("accepted %q as a different token", token)
		}
	})
}

func FuzzTwilioSettings(f *testing.F) {
	f.Add("key=main,algorithm=HMAC_SHA256")
	f.Add("algorithm=HMAC_SHA1")
	f.Add("key=,algorithm=")
	vec := vectorNamedF(f, "twilio SDK form vector")
	v := mustNew(f, vec.provider, vec.opts)
	f.Fuzz(func(t *testing.T, settings string) {
		newHash, ok := twilioAlgorithm(settings)
		if ok && newHash == nil {
			t.Fatal("ok without a hash")
		}
		r := vec.request()
		r.Header.Set(twilioSettingsHeader, settings)
		_, err := v.Verify(r)
		// The vector is HMAC-SHA1: it verifies only when SHA-1 is selected.
		if (err == nil) != (ok && newHash().Size() == 20) {
			t.Fatalf("settings %q: err %v, algorithm ok %v", settings, err, ok)
		}
	})
}

func FuzzJSONField(f *testing.F) {
	f.Add([]byte(`{"data":{"object":{"id":"pi_1"}},"events":[{"id":7}]}`), "events.0.id")
	f.Add([]byte(s14Body), "id")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		if s, ok := JSONField(body, path); !ok && s != "" {
			t.Fatalf("not ok but %q", s)
		}
	})
}
