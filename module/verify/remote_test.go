package verify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSNSRefusals(t *testing.T) {
	f := fixture()
	note := map[string]string{"Type": "Notification", "MessageId": "m-9", "TopicArn": testTopic,
		"Message": "hi", "Timestamp": "2023-11-14T22:13:20.000Z"}
	good := f.snsSigned(note, "2")
	cases := []struct {
		name string
		opts Options
		body string
	}{
		{"foreign topic", Options{HTTPClient: f.srv.Client(), SNSHost: testSNSHost, TopicARNs: []string{"arn:aws:sns:us-east-1:1:other"}}, good},
		{"cert host not allowed by default", Options{HTTPClient: f.srv.Client()}, good},
		{"cert over http", f.snsOpts(), strings.Replace(good, `"https://127.0.0.1`, `"http://127.0.0.1`, 1)},
		{"cert path not .pem", f.snsOpts(), strings.Replace(good, `test.pem"`, `test.pem?x=.pem"`, 1)},
		{"credentials in the cert URL", f.snsOpts(), strings.Replace(good, `"https://127.0.0.1`, `"https://u:p@127.0.0.1`, 1)},
		{"unknown signature version", f.snsOpts(), strings.Replace(good, `"SignatureVersion":"2"`, `"SignatureVersion":"3"`, 1)},
		{"version downgrade", f.snsOpts(), strings.Replace(good, `"SignatureVersion":"2"`, `"SignatureVersion":"1"`, 1)},
		{"unknown type", f.snsOpts(), strings.Replace(good, `"Type":"Notification"`, `"Type":"Other"`, 1)},
		{"not JSON", f.snsOpts(), "Type=Notification"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Request{Method: "POST", URL: testPushURL, Body: []byte(c.body), Now: unix(1700000000)}
			_, err := mustNew(t, "sns", c.opts).Verify(r)
			wantErr(t, err, ErrInvalidSignature)
		})
	}
	o := f.snsOpts()
	o.TopicARNs = []string{testTopic}
	r := &Request{Method: "POST", URL: testPushURL, Body: []byte(good), Now: unix(1700000000)}
	if _, err := mustNew(t, "sns", o).Verify(r); err != nil {
		t.Fatalf("allowed topic: %v", err)
	}
	if _, err := New("sns", Options{SNSHost: "("}); err == nil || !strings.Contains(err.Error(), "sns_host") {
		t.Fatalf("bad sns_host: %v", err)
	}
}

func TestPubSubClaims(t *testing.T) {
	f := fixture()
	cases := []struct {
		name string
		over jwt.MapClaims
		want error
	}{
		{"wrong audience", jwt.MapClaims{"aud": "https://other.example/hook"}, ErrInvalidSignature},
		{"wrong issuer", jwt.MapClaims{"iss": "https://evil.example"}, ErrInvalidSignature},
		{"plain issuer is Google's too", jwt.MapClaims{"iss": "accounts.google.com"}, nil},
		{"another service account", jwt.MapClaims{"email": "other@project.iam.gserviceaccount.com"}, ErrInvalidSignature},
		{"email not verified", jwt.MapClaims{"email_verified": false}, ErrInvalidSignature},
		{"expired", jwt.MapClaims{"exp": 1700000000 - 60}, ErrTimestamp},
		{"no exp", jwt.MapClaims{"exp": nil}, ErrInvalidSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			over := c.over
			if v, ok := over["exp"]; ok && v == nil {
				over = nil
			}
			tok := f.googleToken(f.googleKey, over)
			if c.name == "no exp" {
				claims := jwt.MapClaims{"iss": "https://accounts.google.com", "aud": testPushURL, "email": testPushAccount, "email_verified": true}
				tk := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
				tk.Header["kid"] = "k1"
				tok, _ = tk.SignedString(f.googleKey)
			}
			r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: unix(1700000000)}
			_, err := mustNew(t, "pubsub", f.pubsubOpts()).Verify(r)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("HS256 token keyed with nothing public", func(t *testing.T) {
		tok := hs256("guess", jwt.MapClaims{"iss": "https://accounts.google.com", "aud": testPushURL,
			"email": testPushAccount, "email_verified": true, "exp": 1700003600})
		r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: unix(1700000000)}
		_, err := mustNew(t, "pubsub", f.pubsubOpts()).Verify(r)
		wantErr(t, err, ErrInvalidSignature)
	})
	t.Run("configured audience", func(t *testing.T) {
		o := f.pubsubOpts()
		o.Audience = "my-audience"
		tok := f.googleToken(f.googleKey, jwt.MapClaims{"aud": "my-audience"})
		r := &Request{Method: "POST", URL: "https://internal:8080/x", Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: unix(1700000000)}
		if _, err := mustNew(t, "pubsub", o).Verify(r); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := New("pubsub", Options{}); err == nil || !strings.Contains(err.Error(), "`email") {
		t.Fatalf("pubsub without email: %v", err)
	}
}

// TestRemoteKeysAreCached: one fetch serves many requests until the TTL.
func TestRemoteKeysAreCached(t *testing.T) {
	f := fixture()
	v := mustNew(t, "pubsub", f.pubsubOpts())
	tok := f.googleToken(f.googleKey, nil)
	before := f.hits()
	now := unix(1700000000)
	for i := range 20 {
		r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: now.Add(time.Duration(i) * time.Second)}
		if _, err := v.Verify(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.hits() - before; got != 1 {
		t.Fatalf("%d JWKS fetches for 20 requests, want 1", got)
	}
	r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: now.Add(jwksTTL + time.Second)}
	tok2 := f.googleToken(f.googleKey, jwt.MapClaims{"iat": now.Add(jwksTTL).Unix(), "exp": now.Add(jwksTTL + time.Hour).Unix()})
	r.Header = hdr("Authorization", "Bearer "+tok2)
	if _, err := v.Verify(r); err != nil {
		t.Fatal(err)
	}
	if got := f.hits() - before; got != 2 {
		t.Fatalf("%d JWKS fetches after the TTL, want 2", got)
	}
}

func TestJWPlayerClaimsMustEqualBody(t *testing.T) {
	body := `{"event":"media_available","media_id":"m1"}`
	cases := map[string]jwt.MapClaims{
		"extra claim":   {"event": "media_available", "media_id": "m1", "admin": true},
		"missing claim": {"event": "media_available"},
		"number type":   {"event": "media_available", "media_id": 1},
	}
	for name, claims := range cases {
		r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+hs256("s", claims)), Body: []byte(body)}
		_, err := mustNew(t, "jwplayer", secrets("s")).Verify(r)
		if !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	alg := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"event": "media_available", "media_id": "m1"})
	none, _ := alg.SignedString(jwt.UnsafeAllowNoneSignatureType)
	r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+none), Body: []byte(body)}
	_, err := mustNew(t, "jwplayer", secrets("s")).Verify(r)
	wantErr(t, err, ErrInvalidSignature)
}
