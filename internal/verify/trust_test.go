package verify

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLinearRefusesUnsignedTimestamp: Linear always signs webhookTimestamp
// in the body, so a body without it is refused, whatever linear-timestamp
// says. Before, a captured body was accepted again with a fresh header.
func TestLinearRefusesUnsignedTimestamp(t *testing.T) {
	v, err := New("linear", secrets(s14Secret))
	if err != nil {
		t.Fatal(err)
	}
	captured := time.Unix(1700000000, 0)
	for _, at := range []time.Time{captured, captured.Add(125 * time.Second)} {
		h := hdr("Linear-Signature", s14Hex, "linear-timestamp", strconv.FormatInt(at.UnixMilli(), 10))
		_, err := v.Verify(&Request{Method: http.MethodPost, URL: "https://hooks.example.com/hook", Header: h, Body: []byte(s14Body), Now: at})
		if !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("body without webhookTimestamp, header dated %v: err = %v, want invalid_signature", at, err)
		}
	}
	// The signed field still decides, header or not.
	h := hdr("Linear-Signature", linearSig, "linear-timestamp", "1")
	at := time.UnixMilli(1700000000000)
	if _, err := v.Verify(&Request{Header: h, Body: []byte(linearBody), Now: at}); err != nil {
		t.Errorf("signed webhookTimestamp: %v", err)
	}
	if _, err := v.Verify(&Request{Header: h, Body: []byte(linearBody), Now: at.Add(125 * time.Second)}); !errors.Is(err, ErrTimestamp) {
		t.Errorf("signed webhookTimestamp 125 s old: err = %v, want timestamp_out_of_tolerance", err)
	}
	if _, _, err := Sign("linear", secrets(s14Secret), SignRequest{Body: []byte(s14Body)}); err == nil {
		t.Error("Sign made a Linear request without webhookTimestamp")
	}
}

// coverageBody is a JSON body that holds every id field of p and a field
// "pad" whose change alters nothing else.
func coverageBody(t *testing.T, p preset, now time.Time) []byte {
	m := map[string]any{"pad": "a"}
	for _, f := range p.IDFields {
		obj := m
		path := strings.Split(f, ".")
		for _, k := range path[:len(path)-1] {
			next, ok := obj[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				obj[k] = next
			}
			obj = next
		}
		obj[path[len(path)-1]] = "v-" + f
	}
	if p.TimestampField != "" {
		m[p.TimestampField] = json.Number(formatTimestamp(p.TimestampFormat, now))
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPresetCoverage checks each preset's Covers against what its scheme
// does: for the presets Sign can sign, by changing each input of a signed
// request and seeing whether it still verifies; for the others, from the
// scheme's shape.
func TestPresetCoverage(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	const url = "https://hooks.example.com/in?tenant=1"
	for _, name := range Providers() {
		t.Run(name, func(t *testing.T) {
			p, _ := presetByName(name)
			if p.Covers&coversID != 0 && len(p.IDHeaders) == 0 && len(p.IDFields) == 0 {
				t.Error("covers an id it does not have")
			}
			o := roundTripOptions(p, signS14Secret)
			body := coverageBody(t, p, now)
			h, u, err := Sign(name, o, SignRequest{URL: url, Body: body, ID: "id-1", Now: now})
			if errors.Is(err, ErrSignUnsupported) {
				checkCoverageShape(t, p)
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			v, err := New(name, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Covers&coversTimestamp != 0; got != v.SignsTimestamp() {
				t.Errorf("covers timestamp = %v, scheme signs one = %v", got, v.SignsTimestamp())
			}
			verifies := func(h http.Header, u string, body []byte) bool {
				_, err := v.Verify(&Request{Method: http.MethodPost, URL: u, Header: h, Body: body, Now: now})
				return err == nil
			}
			if !verifies(h, u, body) {
				t.Fatal("the signed request does not verify")
			}
			check := func(what string, c coverage, stillVerifies bool) {
				if covered := p.Covers&c != 0; covered == stillVerifies {
					t.Errorf("covers %s = %v, but a request with another %s verifies: %v", what, covered, what, stillVerifies)
				}
			}
			padded := []byte(strings.Replace(string(body), `"pad":"a"`, `"pad":"b"`, 1))
			check("body", coversBody, verifies(h, u, padded))
			if len(p.IDHeaders) > 0 || len(p.IDFields) > 0 {
				h2, body2 := h.Clone(), body
				if len(p.IDHeaders) > 0 {
					h2.Set(p.IDHeaders[0], "id-2")
				} else {
					body2 = []byte(strings.Replace(string(body), `"v-`, `"w-`, 1))
				}
				check("id", coversID, verifies(h2, u, body2))
			}
			check("URL", coversURL, verifies(h, strings.Replace(u, "/in?", "/other?", 1), body))
			if p.TimestampHeader != "" {
				h2 := h.Clone()
				h2.Set(p.TimestampHeader, formatTimestamp(p.TimestampFormat, now.Add(-time.Second)))
				check("timestamp", coversTimestamp, verifies(h2, u, body))
			}
		})
	}
}

// checkCoverageShape checks Covers from the scheme's shape, for the presets
// whose signature needs a private key or lives in the body.
func checkCoverageShape(t *testing.T, p preset) {
	t.Helper()
	want := p.Covers
	switch p.Kind {
	case kindEd25519, kindECDSA, kindRSA:
		tmpl, err := parseTemplate(p.Signed, false)
		if err != nil {
			t.Fatal(err)
		}
		want = coversBody
		if tmpl.uses(partTimestamp) {
			want |= coversTimestamp
		}
		if tmpl.uses(partURL) {
			want |= coversURL
		}
		if tmpl.uses(partID) || len(p.IDHeaders) == 0 && len(p.IDFields) > 0 {
			want |= coversID
		}
	case kindMailgun: // timestamp and token only
		want = coversTimestamp
	case kindSNS: // the canonical fields hold Timestamp and MessageId
		want = coversTimestamp | coversID
	case kindOIDC: // the token is not bound to the request
		want = 0
	case kindFal: // request id, user id, timestamp and body hash
		want = coversBody | coversTimestamp | coversID
	case kindPayPal: // a CRC32 of the body, which anyone can match
		want = coversTimestamp
	case kindPlaid: // iat and the body's hash
		want = coversBody | coversTimestamp
	case kindBraintree: // the form holds the signed payload and the signature alone
		want = coversBody
	default:
		t.Fatalf("no shape check for kind %d", p.Kind)
	}
	if p.Covers != want {
		t.Errorf("Covers = %b, the scheme covers %b", p.Covers, want)
	}
}

// TestCredentialHeaders: every preset whose proof authorizes by itself (a
// token, basic credentials, a bearer or JWT token) names it, so that the
// glue removes it; no signature preset does.
func TestCredentialHeaders(t *testing.T) {
	credKinds := []kind{kindToken, kindBasic, kindJWT, kindJWTBody, kindOIDC}
	for _, p := range presets {
		if want := slices.Contains(credKinds, p.Kind); p.Credential != want {
			t.Errorf("%s: Credential = %v, want %v", p.Name, p.Credential, want)
		}
		headers, query := p.credentials()
		if p.Credential && len(headers) == 0 && query == "" && !slices.Contains(p.Takes, optHeader) {
			t.Errorf("%s: a credential preset names no header or query parameter", p.Name)
		}
	}
	tests := []struct {
		provider    string
		o           Options
		wantHeaders []string
		wantQuery   string
	}{
		{"basic", secrets("u:p"), []string{"Authorization"}, ""},
		{"gitlab", secrets("t"), []string{"X-Gitlab-Token"}, ""},
		{"okta", secrets("t"), []string{"Authorization"}, ""},
		{"okta", Options{Secrets: []string{"t"}, Header: "x-okta-auth"}, []string{"X-Okta-Auth"}, ""},
		{"token", Options{Secrets: []string{"t"}, Header: "x-token"}, []string{"X-Token"}, ""},
		{"token", Options{Secrets: []string{"t"}, Query: "key"}, nil, "key"},
		{"shotstack", secrets("t"), nil, "token"},
		{"shotstack", Options{Secrets: []string{"t"}, Header: "X-Callback-Token"}, []string{"X-Callback-Token"}, ""},
		{"livekit", Options{Secrets: []string{"s"}, KeyID: "k"}, []string{"Authorization"}, ""},
		{"jwplayer", secrets("s"), []string{"Authorization"}, ""},
		{"github", secrets("s"), nil, ""},
		{"gitlab-signed", secrets(stdSecret), nil, ""},
	}
	for _, tt := range tests {
		v, err := New(tt.provider, tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.provider, err)
		}
		if got := v.CredentialHeaders(); !slices.Equal(got, tt.wantHeaders) {
			t.Errorf("%s %+v: CredentialHeaders = %v, want %v", tt.provider, tt.o, got, tt.wantHeaders)
		}
		if got := v.CredentialQuery(); got != tt.wantQuery {
			t.Errorf("%s: CredentialQuery = %q, want %q", tt.provider, got, tt.wantQuery)
		}
	}
}
