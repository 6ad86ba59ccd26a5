package verify

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
		{"foreign topic", Options{HTTPClient: f.srv.Client(), SNSHost: testSNSHost, TopicARNs: []string{"arn:aws:sns:us-east-1:123456789012:other"}}, good},
		{"cert host not allowed by default", Options{HTTPClient: f.srv.Client(), TopicARNs: []string{testTopic}}, good},
		{"cert over http", f.snsOpts(), strings.Replace(good, `"https://127.0.0.1`, `"http://127.0.0.1`, 1)},
		{"cert URL with a query", f.snsOpts(), strings.Replace(good, `.pem"`, `.pem?x=.pem"`, 1)},
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
	r := &Request{Method: "POST", URL: testPushURL, Body: []byte(good), Now: unix(1700000000)}
	if _, err := mustNew(t, "sns", f.snsOpts()).Verify(r); err != nil {
		t.Fatalf("allowed topic: %v", err)
	}
	if _, err := New("sns", Options{SNSHost: "(", TopicARNs: []string{testTopic}}); err == nil || !strings.Contains(err.Error(), "sns_host") {
		t.Fatalf("bad sns_host: %v", err)
	}
}

func TestPubSubClaims(t *testing.T) {
	f := fixture()
	cases := []struct {
		name string
		over map[string]any
		want error
	}{
		{"wrong audience", map[string]any{"aud": "https://other.example/hook"}, ErrInvalidSignature},
		{"wrong issuer", map[string]any{"iss": "https://evil.example"}, ErrInvalidSignature},
		{"plain issuer is Google's too", map[string]any{"iss": "accounts.google.com"}, nil},
		{"another service account", map[string]any{"email": "other@project.iam.gserviceaccount.com"}, ErrInvalidSignature},
		{"email not verified", map[string]any{"email_verified": false}, ErrInvalidSignature},
		{"expired beyond Google's 300 s skew", map[string]any{"exp": 1700000000 - 301}, ErrTimestamp},
		{"expired within Google's 300 s skew", map[string]any{"exp": 1700000000 - 299}, nil},
		{"no exp", map[string]any{"exp": nil}, ErrInvalidSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			over := c.over
			if v, ok := over["exp"]; ok && v == nil {
				over = nil
			}
			tok := f.googleToken(f.googleKey, over)
			if c.name == "no exp" {
				claims := map[string]any{"iss": "https://accounts.google.com", "aud": testPushURL, "email": testPushAccount, "email_verified": true}
				tok = rs256(f.googleKey, claims)
			}
			r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: unix(1700000000)}
			_, err := mustNew(t, "pubsub", f.pubsubOpts()).Verify(r)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("HS256 token keyed with nothing public", func(t *testing.T) {
		tok := hs256("guess", map[string]any{"iss": "https://accounts.google.com", "aud": testPushURL,
			"email": testPushAccount, "email_verified": true, "exp": 1700003600})
		r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: unix(1700000000)}
		_, err := mustNew(t, "pubsub", f.pubsubOpts()).Verify(r)
		wantErr(t, err, ErrInvalidSignature)
	})
	t.Run("configured audience", func(t *testing.T) {
		o := f.pubsubOpts()
		o.Audience = "my-audience"
		tok := f.googleToken(f.googleKey, map[string]any{"aud": "my-audience"})
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
	tok2 := f.googleToken(f.googleKey, map[string]any{"iat": now.Add(jwksTTL).Unix(), "exp": now.Add(jwksTTL + time.Hour).Unix()})
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
	cases := map[string]map[string]any{
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
	none := macJWT("none", "", map[string]any{"event": "media_available", "media_id": "m1"})
	r := &Request{Method: "POST", URL: testPushURL, Header: hdr("Authorization", "Bearer "+none), Body: []byte(body)}
	_, err := mustNew(t, "jwplayer", secrets("s")).Verify(r)
	wantErr(t, err, ErrInvalidSignature)
}

// snsNote is a Notification of testTopic, signed at 1700000000.
func snsNote(id string) map[string]string {
	return map[string]string{"Type": "Notification", "MessageId": id, "TopicArn": testTopic,
		"Message": "hi", "Timestamp": "2023-11-14T22:13:20.000Z"}
}

// TestSNSCertURLShape: only URLs of the shape AWS uses are fetched.
func TestSNSCertURLShape(t *testing.T) {
	aws := &snsScheme{hosts: defaultSNSHost, paths: snsCertPath}
	local := &snsScheme{hosts: regexp.MustCompile(`^(?:localhost\.localstack\.cloud:4566)$`), paths: snsCertPathUnder}
	const name = "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
	for _, c := range []struct {
		s    *snsScheme
		url  string
		want bool
	}{
		{aws, "https://sns.us-east-1.amazonaws.com" + name, true},
		{aws, "https://sns.us-gov-west-1.amazonaws.com" + name, true},
		{aws, "https://sns.cn-north-1.amazonaws.com.cn" + name, true},
		{aws, "https://sns.s3-us-west-2.amazonaws.com" + name, false},
		{aws, "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem", false},
		{aws, "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9C6465FA7F48F5CACD23014631EC1136.pem", false},
		{aws, "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec11.pem", false},
		{aws, "https://sns.us-east-1.amazonaws.com/redir/a.pem", false},
		{aws, "https://sns.us-east-1.amazonaws.com/x" + name, false},
		{aws, "https://sns.us-east-1.amazonaws.com" + name + "?x", false},
		{aws, "https://sns.us-east-1.amazonaws.com" + name + "#x", false},
		{aws, "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec113%36.pem", false},
		{aws, "http://sns.us-east-1.amazonaws.com" + name, false},
		{local, "https://localhost.localstack.cloud:4566/_aws/sns" + name, true},
		{local, "https://localhost.localstack.cloud:4566" + name, true},
		{local, "https://localhost.localstack.cloud:4566/_aws/sns/a.pem", false},
	} {
		if got := c.s.certURLAllowed(c.url); got != c.want {
			t.Errorf("certURLAllowed(%q) = %v, want %v", c.url, got, c.want)
		}
	}
}

// TestSNSFloodDoesNotStarveFetches: forged messages, each naming a new
// well-shaped certificate URL on the allowed host, cannot keep a genuine
// message whose certificate is not cached from being verified; a URL that
// missed is not fetched again, however often it is named.
func TestSNSFloodDoesNotStarveFetches(t *testing.T) {
	f := fixture()
	v := mustNew(t, "sns", f.snsOpts())
	now := unix(1700000000)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				forged := f.snsSignedAt(fmt.Sprintf("%s/SimpleNotificationService-%032x.pem", f.srv.URL, w*100+i), snsNote("forged"))
				_, err := v.Verify(&Request{Method: "POST", Body: []byte(forged), Now: now})
				if !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("forged message: err = %v", err)
				}
			}
		})
	}
	wg.Wait()
	genuine := f.snsSigned(snsNote("genuine"), "2")
	if _, err := v.Verify(&Request{Method: "POST", Body: []byte(genuine), Now: now}); err != nil {
		t.Fatalf("a genuine message after 200 forged ones: %v", err)
	}

	missPath := fmt.Sprintf("/SimpleNotificationService-%032x.pem", 7)
	before, _ := f.getsOf(missPath)
	forged := f.snsSignedAt(f.srv.URL+missPath, snsNote("forged"))
	for i := range 50 {
		_, err := v.Verify(&Request{Method: "POST", Body: []byte(forged), Now: now.Add(time.Duration(i) * time.Second)})
		wantErr(t, err, ErrInvalidSignature)
	}
	if after, _ := f.getsOf(missPath); after != before {
		t.Errorf("a missed URL named 50 times within a minute was fetched %d more times, want 0", after-before)
	}
	_, _ = v.Verify(&Request{Method: "POST", Body: []byte(forged), Now: now.Add(remoteRetry)})
	if after, _ := f.getsOf(missPath); after != before+1 {
		t.Errorf("a missed URL named again after remoteRetry: %d fetches, want 1", after-before)
	}
}

// TestSNSCertificateUnavailable: a certificate that cannot be fetched is
// not a bad signature: the message is not judged (ErrKeyUnavailable, which
// the glue answers 503 so that SNS retries), and the retry soon after
// fetches again.
func TestSNSCertificateUnavailable(t *testing.T) {
	f := fixture()
	v := mustNew(t, "sns", f.snsOpts())
	now := unix(1700000000)
	genuine := f.snsSignedAt(f.srv.URL+testFlakyPath, snsNote("genuine"))
	_, err := v.Verify(&Request{Method: "POST", Body: []byte(genuine), Now: now})
	if !errors.Is(err, ErrKeyUnavailable) || errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("certificate answered 503: err = %v, want ErrKeyUnavailable", err)
	}
	if _, err := v.Verify(&Request{Method: "POST", Body: []byte(genuine), Now: now.Add(remoteRetryUnavailable)}); err != nil {
		t.Fatalf("the sender's retry after the publisher recovered: %v", err)
	}
	// A certificate the publisher says does not exist is a forgery.
	forged := f.snsSignedAt(f.srv.URL+fmt.Sprintf("/SimpleNotificationService-%032x.pem", 404), snsNote("forged"))
	_, err = v.Verify(&Request{Method: "POST", Body: []byte(forged), Now: now})
	wantErr(t, err, ErrInvalidSignature)

	o := f.pubsubOpts()
	o.JWKSURL = f.srv.URL + "/unavailable/certs"
	r := &Request{Method: "POST", Header: hdr("Authorization", "Bearer "+f.googleToken(f.googleKey, nil)), Body: []byte(`{}`), Now: now}
	if _, err := mustNew(t, "pubsub", o).Verify(r); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("Google's keys answered 503: err = %v, want ErrKeyUnavailable", err)
	}
}

// TestRemoteFetchPolicy: a certificate or key set is fetched over https,
// from the checked URL only: redirects are not followed.
func TestRemoteFetchPolicy(t *testing.T) {
	f := fixture()
	t.Run("sns certificate redirected to plain http", func(t *testing.T) {
		_, plainBefore := f.getsOf(testRedirectPath)
		body := f.snsSignedAt(f.srv.URL+testRedirectPath, snsNote("redirected"))
		_, err := mustNew(t, "sns", f.snsOpts()).Verify(&Request{Method: "POST", Body: []byte(body), Now: unix(1700000000)})
		wantErr(t, err, ErrInvalidSignature)
		if redirects, plain := f.getsOf(testRedirectPath); redirects == 0 || plain != plainBefore {
			t.Errorf("%d GETs of the redirecting URL, %d of the plain http server it points to; want >0 and 0", redirects, plain-plainBefore)
		}
	})
	t.Run("jwks redirected on the same host", func(t *testing.T) {
		o := f.pubsubOpts()
		o.JWKSURL = f.srv.URL + "/redir/certs"
		r := &Request{Method: "POST", Header: hdr("Authorization", "Bearer "+f.googleToken(f.googleKey, nil)), Body: []byte(`{}`), Now: unix(1700000000)}
		_, err := mustNew(t, "pubsub", o).Verify(r)
		wantErr(t, err, ErrInvalidSignature)
	})
	t.Run("Fetch", func(t *testing.T) {
		if _, err := Fetch(t.Context(), f.srv.Client(), f.srv.URL+testRedirectPath, RemoteMaxBytes); err == nil {
			t.Error("Fetch followed a redirect")
		}
		if _, err := Fetch(t.Context(), f.plain.Client(), f.plain.URL+"/a.pem", RemoteMaxBytes); err == nil {
			t.Error("Fetch fetched a plain http URL")
		}
		if _, err := Fetch(t.Context(), f.srv.Client(), f.certURL, 10); err == nil {
			t.Error("Fetch read beyond its limit")
		}
		if b, err := Fetch(t.Context(), f.srv.Client(), f.certURL, RemoteMaxBytes); err != nil || !bytes.Equal(b, f.certPEM) {
			t.Errorf("Fetch of the certificate: %v", err)
		}
	})
	if _, err := New("pubsub", Options{Email: testPushAccount, Audience: testPushURL, JWKSURL: f.plain.URL + "/certs"}); err == nil ||
		!strings.Contains(err.Error(), "jwks_url") {
		t.Errorf("an http jwks_url: %v", err)
	}
}

// TestSNSTimestampWindow: the signed Timestamp may be up to the tolerance
// (1 h by default, settable) old and only clock skew ahead.
func TestSNSTimestampWindow(t *testing.T) {
	f := fixture()
	signedAt := unix(1700000000)
	body := f.snsSigned(snsNote("m-window"), "2")
	dated2015 := f.snsSigned(map[string]string{"Type": "Notification", "MessageId": "m-2015", "TopicArn": testTopic,
		"Message": "hi", "Timestamp": "2015-06-01T12:00:00.000Z"}, "2")
	off := time.Duration(0)
	for _, c := range []struct {
		name      string
		body      string
		tolerance *time.Duration
		now       time.Time
		want      error
	}{
		{"dated 2015", dated2015, nil, signedAt, ErrTimestamp},
		{"an hour old", body, nil, signedAt.Add(time.Hour), nil},
		{"over an hour old", body, nil, signedAt.Add(time.Hour + time.Second), ErrTimestamp},
		{"clock skew ahead", body, nil, signedAt.Add(-snsFutureSkew), nil},
		{"beyond clock skew ahead", body, nil, signedAt.Add(-snsFutureSkew - time.Second), ErrTimestamp},
		{"tolerance 2h, 90 min old", body, ptr(2 * time.Hour), signedAt.Add(90 * time.Minute), nil},
		{"tolerance 2h, an hour ahead", body, ptr(2 * time.Hour), signedAt.Add(-time.Hour), ErrTimestamp},
		{"tolerance off, dated 2015", dated2015, &off, signedAt, nil},
		{"Timestamp not RFC 3339", strings.Replace(body, "2023-11-14T22:13:20.000Z", "1700000000", 1), nil, signedAt, ErrInvalidSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := f.snsOpts()
			o.Tolerance = c.tolerance
			_, err := mustNew(t, "sns", o).Verify(&Request{Method: "POST", Body: []byte(c.body), Now: c.now})
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if v := mustNew(t, "sns", f.snsOpts()); v.Tolerance() != time.Hour || v.SignsTimestamp() {
		t.Errorf("Tolerance = %v, SignsTimestamp = %v; want 1h, false (SNS retries resend the same message: no nonce)", v.Tolerance(), v.SignsTimestamp())
	}
}

func ptr[T any](v T) *T { return &v }

// TestSNSConfig: a topic is required, and must be a topic ARN.
func TestSNSConfig(t *testing.T) {
	_, err := New("sns", Options{})
	if err == nil || !strings.Contains(err.Error(), "topic_arn <arn>") || !strings.Contains(err.Error(), "any AWS account") {
		t.Errorf("sns without topic_arn: %v", err)
	}
	if _, err := New("sns", Options{TopicARNs: []string{"uploads"}}); err == nil || !strings.Contains(err.Error(), "not an SNS topic ARN") {
		t.Errorf("sns with a topic name for an ARN: %v", err)
	}
	for _, arn := range []string{testTopic, "arn:aws-cn:sns:cn-north-1:123456789012:t", "arn:aws:sns:us-east-1:000000000000:orders.fifo"} {
		if _, err := New("sns", Options{TopicARNs: []string{arn}}); err != nil {
			t.Errorf("topic_arn %s: %v", arn, err)
		}
	}
}

// TestPubSubGoogleRules: tokens are held to Google's verifier's rules
// (google-auth-library): 300 s of clock skew on iat, a token expiring
// 86,400 s or more from now refused, iat required.
func TestPubSubGoogleRules(t *testing.T) {
	f := fixture()
	const now = 1700000000
	for _, c := range []struct {
		name string
		over map[string]any
		want error
	}{
		{"iat 3 h in the future", map[string]any{"iat": now + 3*3600, "exp": now + 4*3600}, ErrTimestamp},
		{"iat 301 s in the future", map[string]any{"iat": now + 301}, ErrTimestamp},
		{"iat 299 s in the future", map[string]any{"iat": now + 299}, nil},
		{"48 h lifetime", map[string]any{"iat": now - 10, "exp": now + 48*3600}, ErrTimestamp},
		{"48 h lifetime, most of it past", map[string]any{"iat": now - 47*3600, "exp": now + 3600}, ErrTimestamp},
		{"expires in 86,400 s", map[string]any{"iat": now, "exp": now + 86400}, ErrTimestamp},
		{"24 h lifetime", map[string]any{"iat": now - 10, "exp": now + 86390}, nil},
		{"no iat", map[string]any{"iat": nil}, ErrInvalidSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := f.googleToken(f.googleKey, c.over)
			r := &Request{Method: "POST", Header: hdr("Authorization", "Bearer "+tok), Body: []byte(`{}`), Now: unix(now)}
			_, err := mustNew(t, "pubsub", f.pubsubOpts()).Verify(r)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestPubSubAudience: the audience is configured, never taken from the
// request: a token for another push endpoint fails whatever Host it is
// sent with.
func TestPubSubAudience(t *testing.T) {
	f := fixture()
	o := f.pubsubOpts()
	o.Audience = ""
	_, err := New("pubsub", o)
	if err == nil || !strings.Contains(err.Error(), "audience <aud>") || !strings.Contains(err.Error(), "push endpoint's public URL") {
		t.Fatalf("pubsub without audience: %v", err)
	}
	other := "https://attacker.example/push"
	tok := f.googleToken(f.googleKey, map[string]any{"aud": other})
	r := &Request{Method: "POST", URL: other, Header: hdr("Authorization", "Bearer "+tok, "Host", "attacker.example"), Body: []byte(`{}`), Now: unix(1700000000)}
	_, err = mustNew(t, "pubsub", f.pubsubOpts()).Verify(r)
	wantErr(t, err, ErrInvalidSignature)
}
