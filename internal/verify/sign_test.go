package verify

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	signS14Secret = "test_secret"
	signS14Body   = `{"id":"evt_1"}`
	signWhsec     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	signWhsecOld  = "whsec_d3Jvbmcgc2VjcmV0IGtleSBmb3IgdGVzdHM="
)

var signS14Now = time.Unix(1700000000, 0)

func signHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// verifySigned checks what Sign produced the way the edge would.
func verifySigned(provider string, o Options, h http.Header, u string, body []byte, now time.Time) (Result, error) {
	v, err := New(provider, o)
	if err != nil {
		return Result{}, err
	}
	return v.Verify(&Request{Method: http.MethodPost, URL: u, Header: h, Body: body, Now: now})
}

type signVector struct {
	name     string
	provider string
	opts     Options
	req      SignRequest
	want     http.Header // each must be sent with exactly this value
	wantURL  string      // "" means req.URL
}

// signVectors are the providers' published vectors, reproduced by Sign.
func signVectors() []signVector {
	vs := []signVector{
		{
			name: "standard webhooks SDK", provider: "standard", opts: Options{Secrets: []string{signWhsec}},
			req: SignRequest{Body: []byte(`{"test": 2432232314}`), ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Now: time.Unix(1614265330, 0)},
			want: signHeader("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
				"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp", "1614265330"),
		},
		{
			name: "github docs", provider: "github", opts: Options{Secrets: []string{"It's a Secret to Everybody"}},
			req:  SignRequest{Body: []byte("Hello, World!"), ID: "d1b6c4a0-1f9e-11ee-8c29-2f1d7b1a2b3c"},
			want: signHeader("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "X-GitHub-Delivery", "d1b6c4a0-1f9e-11ee-8c29-2f1d7b1a2b3c"),
		},
		{
			name: "github octokit", provider: "github", opts: Options{Secrets: []string{"secret"}},
			req:  SignRequest{Body: []byte("data")},
			want: signHeader("X-Hub-Signature-256", "sha256=1b2c16b75bd2a870c114153ccda5bcfca63314bc722fa160d690de133ccbb9db"),
		},
		{
			name: "stripe generateTestHeaderString", provider: "stripe", opts: Options{Secrets: []string{"whsec_test_secret"}},
			req:  SignRequest{Body: []byte(`{"id":"evt_test_webhook","object":"event"}`), Now: time.Unix(1700000000, 0)},
			want: signHeader("Stripe-Signature", "t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"),
		},
		{
			name: "mux SDK", provider: "mux", opts: Options{Secrets: []string{"SuperSecret123"}},
			req:  SignRequest{Body: []byte(`{"test":"body"}`), Now: time.Unix(1565125718, 0)},
			want: signHeader("Mux-Signature", "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7"),
		},
		{
			name: "paddle SDK", provider: "paddle", opts: Options{Secrets: []string{"VALID_SECRET"}},
			req:  SignRequest{Body: []byte(`{"data": ["1", "2"]}`), Now: time.Unix(1698796800, 0)},
			want: signHeader("Paddle-Signature", "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9"),
		},
		{
			name: "slack docs", provider: "slack", opts: Options{Secrets: []string{"8f742231b10e8888abcd99yyyzzz85a5"}},
			req: SignRequest{Body: []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"),
				Now: time.Unix(1531420618, 0)},
			want: signHeader("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "X-Slack-Request-Timestamp", "1531420618"),
		},
		{
			name: "cloudinary SDK", provider: "cloudinary", opts: Options{Secrets: []string{"hardcoded"}, Algorithm: "sha256"},
			req: SignRequest{Body: []byte(`{"public_id":"b8sjhoslj8cq8ovoa0ma","version":"1555337587","width":1000,"height":800}`),
				Now: time.Unix(7952342400000, 0)},
			want: signHeader("X-Cld-Signature", "6c5a29fd8815772fbac2f10ae741e093d0859313947ef8fadeb29126ded6649c", "X-Cld-Timestamp", "7952342400000"),
		},
		{
			name: "twilio SDK form", provider: "twilio", opts: Options{Secrets: []string{"12345"}},
			req: SignRequest{URL: "https://mycompany.com/myapp.php?foo=1&bar=2", ID: "idem-1",
				Body: []byte("CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212")},
			want: signHeader("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "Content-Type", "application/x-www-form-urlencoded",
				"I-Twilio-Idempotency-Token", "idem-1"),
		},
		{
			name: "twilio SDK json", provider: "twilio", opts: Options{Secrets: []string{"12345"}},
			req:     SignRequest{URL: "https://mycompany.com/myapp.php?foo=1&bar=2", Body: []byte(`{"property": "value", "boolean": true}`)},
			want:    signHeader("X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4=", "Content-Type", "application/json"),
			wantURL: "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
		},
		{
			name: "api.video docs", provider: "apivideo", opts: Options{Secrets: []string{"sig_sec_0000000000000000000000"}},
			req:  SignRequest{Body: []byte(`{"type":"video.encoding.quality.completed","emittedAt":"2021-01-29T15:46:25.217Z","videoId":"vi0000000000000000000000","liveStreamId":"li0000000000000000000000","encoding":"hls","quality":"720p"}`)},
			want: signHeader("X-Api-Video-Signature", "27a77d3a7fc626854886b5dbfae4e32c8b0170c1ea1b714c91ba77f1e7774e8c"),
		},
		{
			name: "square SDK", provider: "square", opts: Options{Secrets: []string{"Ibxx_5AKakO-3qeNVR61Dw"}},
			req: SignRequest{URL: "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
				Body: []byte(`{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}`)},
			want: signHeader("x-square-hmacsha256-signature", "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="),
		},
		{
			name: "square SDK 2", provider: "square", opts: Options{Secrets: []string{"signature-key"}},
			req:  SignRequest{URL: "https://webhook.site/webhooks", Body: []byte(`{"data":{"type":"webhooks","id":"fake_id"}}`)},
			want: signHeader("x-square-hmacsha256-signature", "W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA="),
		},
		{
			name: "contentful toolkit signRequest", provider: "contentful", opts: Options{Secrets: []string{strings.Repeat("a", 64)}},
			req: SignRequest{URL: "https://hooks.example.com/webhook", Body: []byte(`{"sys":{"id":"e1"}}`), Now: time.UnixMilli(1700000000000),
				Header: signHeader("X-Contentful-Topic", "ContentManagement.Entry.publish")},
			want: signHeader("x-contentful-signature", "e4ac05ada71bd77c938e2a97368de4fa46b9ef4e6f9e91b7dbdc8ecc4a75b1e1",
				"x-contentful-signed-headers", "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic",
				"x-contentful-timestamp", "1700000000000"),
		},
		{
			name: "twitch s14", provider: "twitch", opts: Options{Secrets: []string{signS14Secret}},
			req: SignRequest{Body: []byte(signS14Body), ID: "msg_1", Now: time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC)},
			want: signHeader("Twitch-Eventsub-Message-Signature", "sha256=ffde07e2fd9cc97b4a87180890d18e4d1ab22f92f29aff420443bf0ce9a19efa",
				"Twitch-Eventsub-Message-Id", "msg_1", "Twitch-Eventsub-Message-Timestamp", "2023-11-14T22:13:20.123456789Z"),
		},
	}
	// The independent vectors: one secret, body and time for the simple HMACs.
	s14 := []struct {
		providers []string
		header    string
		value     string
	}{
		{[]string{"dropbox", "sentry", "bunny", "wistia", "apivideo"}, "", "c99dcd69e2f455a559a87dcb03ec937afb162c4907f8a198fff25e657028060d"},
		{[]string{"github"}, "", "sha256=c99dcd69e2f455a559a87dcb03ec937afb162c4907f8a198fff25e657028060d"},
		{[]string{"shopify"}, "", "yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0="},
		{[]string{"typeform"}, "", "sha256=yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0="},
		{[]string{"intercom"}, "", "sha1=52d008f981a31c0a7aceb0aa9d874cad9e3bf3da"},
		{[]string{"zoom", "frameio"}, "", "v0=648168589f1a2dc2b5c682268f07236da81ee1230d357405d1773400763dd7ee"},
		{[]string{"stripe", "mux", "calendly"}, "", "t=1700000000,v1=4c37aa57e00dc0b77c9d05fb2e7eef4029eaa8704fb4d1565722b3756924a01d"},
		{[]string{"paddle"}, "", "ts=1700000000;h1=2c97f1df03905ab228f5f9c747b7bb78d2130f2e7caf840c7f628d1e51ac0b76"},
		{[]string{"square"}, "", "pZaX0FsrWet1+lB5DckDbVkK89DIILZhcpXLk7VU4nc="},
	}
	for _, g := range s14 {
		for _, name := range g.providers {
			p, _ := presetByName(name)
			vs = append(vs, signVector{
				name: name + " s14", provider: name, opts: Options{Secrets: []string{signS14Secret}},
				req:  SignRequest{URL: "https://ex.com/hook", Body: []byte(signS14Body), Now: signS14Now},
				want: signHeader(p.Header, g.value),
			})
		}
	}
	return vs
}

func TestSignVectors(t *testing.T) {
	for _, tt := range signVectors() {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := presetByName(tt.provider); !ok {
				t.Skipf("preset %s not in the table yet", tt.provider)
			}
			h, u, err := Sign(tt.provider, tt.opts, tt.req)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			for k := range tt.want {
				if got := h.Get(k); got != tt.want.Get(k) {
					t.Errorf("%s = %q, want %q", k, got, tt.want.Get(k))
				}
			}
			wantURL := tt.wantURL
			if wantURL == "" {
				wantURL = tt.req.URL
			}
			if u != wantURL {
				t.Errorf("url = %q, want %q", u, wantURL)
			}
			if _, err := verifySigned(tt.provider, tt.opts, h, u, tt.req.Body, tt.req.Now); err != nil {
				t.Errorf("Verify of the signed request: %v", err)
			}
		})
	}
}

// roundTripOptions are options that every signable preset accepts.
func roundTripOptions(p preset, secret string) Options {
	switch {
	case p.Key == keyWhsec:
		secret = map[string]string{signS14Secret: signWhsec, "other": signWhsecOld}[secret]
	case p.Kind == kindBasic:
		secret = "user:" + secret
	}
	o := Options{Secrets: []string{secret}}
	switch p.Name {
	case "hmac":
		o.Header = "X-Signature"
	case "token":
		o.Header = "X-Token"
	case "livekit":
		o.KeyID = "APIkey"
	}
	return o
}

// bodyFree kinds authenticate the sender, not the body.
func bodyFree(k kind) bool { return k == kindToken || k == kindBasic }

// TestSignRoundTrip signs for every provider Sign supports (presets added
// later included) and checks that the signature verifies, that it binds
// the body and the secret, and that the event id arrives.
func TestSignRoundTrip(t *testing.T) {
	body := []byte(`{"id":"evt_1","event_id":"evt_1","type":"ping","webhookTimestamp":0}`)
	now := time.Now().Truncate(time.Second)
	for _, name := range Providers() {
		t.Run(name, func(t *testing.T) {
			p, _ := presetByName(name)
			o := roundTripOptions(p, signS14Secret)
			req := SignRequest{URL: "https://hooks.example.com/in?tenant=1", Body: body, ID: "evt_rt_1", Now: now}
			if p.TimestampField != "" {
				req.Body = []byte(strings.Replace(string(body), `"webhookTimestamp":0`,
					`"`+p.TimestampField+`":`+formatTimestamp(p.TimestampFormat, now), 1))
			}
			h, u, err := Sign(name, o, req)
			if errors.Is(err, ErrSignUnsupported) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			res, err := verifySigned(name, o, h, u, req.Body, now)
			if err != nil {
				t.Fatalf("Verify of the signed request: %v", err)
			}
			if len(p.IDHeaders) > 0 && res.ID != req.ID {
				t.Errorf("event id = %q, want %q", res.ID, req.ID)
			}
			if _, err := verifySigned(name, roundTripOptions(p, "other"), h, u, req.Body, now); err == nil {
				t.Error("a signature made with another secret verified")
			}
			if bodyFree(p.Kind) {
				return
			}
			tampered := slices.Clone(req.Body)
			tampered[len(tampered)-2]++ // inside the JSON, so it stays a body of the same shape
			if _, err := verifySigned(name, o, h, u, tampered, now); err == nil {
				t.Error("a tampered body verified")
			}
		})
	}
}

// TestSignUnsupported keeps the list of providers Sign cannot sign for
// explicit: a new preset of such a kind must be added here on purpose.
func TestSignUnsupported(t *testing.T) {
	want := []string{"braintree", "discord", "fal", "mailgun", "paypal", "plaid", "pubsub", "rsa", "sendgrid", "sns", "telnyx"}
	var got []string
	for _, name := range Providers() {
		p, _ := presetByName(name)
		_, _, err := Sign(name, roundTripOptions(p, signS14Secret), SignRequest{URL: "https://ex.com/", Body: []byte(`{}`)})
		if errors.Is(err, ErrSignUnsupported) {
			got = append(got, name)
			if p.Kind != kindMailgun && p.Kind != kindBraintree && !strings.Contains(err.Error(), "private key") {
				t.Errorf("%s: error %q does not say that the provider's private key is needed", name, err)
			}
		}
	}
	want = slices.DeleteFunc(want, func(n string) bool { _, ok := presetByName(n); return !ok })
	if !slices.Equal(got, want) {
		t.Errorf("unsupported providers = %v, want %v", got, want)
	}
}

// TestSignGeneric signs the generic providers' schemes as users configure
// them, every template placeholder included.
func TestSignGeneric(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	body := []byte(`{"event":"render.done"}`)
	tests := []struct {
		name     string
		provider string
		opts     Options
		header   http.Header
		check    func(t *testing.T, h http.Header, u string)
	}{
		{
			name: "every placeholder", provider: "hmac",
			opts: Options{Header: "X-Sig", Encoding: "base64url", Prefix: "sha256=",
				Signed:          "{id}.{timestamp}.{method}.{url}.{header.X-Tenant}.{body}",
				TimestampHeader: "X-Ts", TimestampFormat: "unix_ms", IDHeader: "X-Id"},
			header: signHeader("X-Tenant", "acme"),
			check: func(t *testing.T, h http.Header, _ string) {
				if h.Get("X-Ts") != "1740830400500" || h.Get("X-Id") != "evt_g" || !strings.HasPrefix(h.Get("X-Sig"), "sha256=") {
					t.Errorf("headers = %v", h)
				}
			},
		},
		{
			name: "sha512 hex", provider: "hmac", opts: Options{Header: "X-Sig", Algorithm: "sha512"},
			check: func(t *testing.T, h http.Header, _ string) {
				if len(h.Get("X-Sig")) != 128 {
					t.Errorf("X-Sig = %q, want a hex HMAC-SHA512", h.Get("X-Sig"))
				}
			},
		},
		{
			name: "rfc3339 sha1 hex", provider: "hmac",
			opts: Options{Header: "X-Sig", Algorithm: "sha1", Signed: "{timestamp}{body}", TimestampHeader: "X-Ts", TimestampFormat: "rfc3339"},
			check: func(t *testing.T, h http.Header, _ string) {
				if h.Get("X-Ts") != "2025-03-01T12:00:00.5Z" || len(h.Get("X-Sig")) != 40 {
					t.Errorf("headers = %v", h)
				}
			},
		},
		{
			name: "token in a header with a prefix", provider: "token", opts: Options{Header: "Authorization", Prefix: "Bearer "},
			check: func(t *testing.T, h http.Header, _ string) {
				if h.Get("Authorization") != "Bearer "+signS14Secret {
					t.Errorf("Authorization = %q", h.Get("Authorization"))
				}
			},
		},
		{
			name: "token in the query", provider: "token", opts: Options{Query: "key"},
			check: func(t *testing.T, _ http.Header, u string) {
				if u != "https://hooks.example.com/in?key="+signS14Secret+"&tenant=1" {
					t.Errorf("url = %q", u)
				}
			},
		},
		{
			name: "shotstack token in the callback URL", provider: "shotstack",
			check: func(t *testing.T, _ http.Header, u string) {
				if !strings.Contains(u, "token="+signS14Secret) {
					t.Errorf("url = %q", u)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Secrets = []string{signS14Secret}
			req := SignRequest{URL: "https://hooks.example.com/in?tenant=1", Body: body, ID: "evt_g", Now: now, Header: tt.header}
			h, u, err := Sign(tt.provider, tt.opts, req)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			tt.check(t, h, u)
			if _, err := verifySigned(tt.provider, tt.opts, h, u, body, now); err != nil {
				t.Fatalf("Verify of the signed request: %v", err)
			}
			if tt.header != nil {
				h.Set("X-Tenant", "other")
				if _, err := verifySigned(tt.provider, tt.opts, h, u, body, now); err == nil {
					t.Error("a signed header was changed and the request still verified")
				}
			}
		})
	}
}

func TestSignTwilioSHA256Rule(t *testing.T) {
	o := Options{Secrets: []string{"shared-key"}}
	req := SignRequest{URL: "https://ex.com/sms", Body: []byte("Body=hi&From=%2B1555"),
		Header: signHeader(twilioSettingsHeader, "key=k1,algorithm=HMAC_SHA256")}
	h, u, err := Sign("twilio", o, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Get("X-Twilio-Signature")) != 44 { // base64 of 32 bytes
		t.Errorf("X-Twilio-Signature = %q, want an HMAC-SHA256", h.Get("X-Twilio-Signature"))
	}
	if _, err := verifySigned("twilio", o, h, u, req.Body, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestSignEventID(t *testing.T) {
	o := Options{Secrets: []string{signS14Secret}}
	sign := func(r SignRequest) string {
		t.Helper()
		r.Body = []byte(signS14Body)
		h, _, err := Sign("github", o, r)
		if err != nil {
			t.Fatal(err)
		}
		return h.Get("X-GitHub-Delivery")
	}
	first, second := sign(SignRequest{}), sign(SignRequest{})
	if _, err := uuid.Parse(first); err != nil || first == second {
		t.Errorf("generated ids %q and %q: want two distinct UUIDs", first, second)
	}
	if got := sign(SignRequest{ID: "given"}); got != "given" {
		t.Errorf("id = %q, want the given one", got)
	}
	if got := sign(SignRequest{Header: signHeader("X-GitHub-Delivery", "from-header")}); got != "from-header" {
		t.Errorf("id = %q, want the one in Header", got)
	}
	h, _, err := Sign("stripe", o, SignRequest{Body: []byte(signS14Body), ID: "ignored"})
	if err != nil || len(h) != 1 {
		t.Errorf("stripe (no id header) sent %v, %v; want only Stripe-Signature", h, err)
	}
}

func TestSignDefaultsToNow(t *testing.T) {
	o := Options{Secrets: []string{signS14Secret}}
	h, u, err := Sign("slack", o, SignRequest{Body: []byte(signS14Body)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifySigned("slack", o, h, u, []byte(signS14Body), time.Now()); err != nil {
		t.Fatalf("a request signed now does not verify now: %v", err)
	}
}

func TestSignErrors(t *testing.T) {
	const secret = "s3cr3t-never-shown"
	o := Options{Secrets: []string{secret}}
	withURL := SignRequest{URL: "https://ex.com/hook", Body: []byte(`{}`)}
	tests := []struct {
		name     string
		provider string
		opts     Options
		req      SignRequest
		want     string
	}{
		{"unknown provider", "nope", o, withURL, "unknown webhook provider"},
		{"no secret", "github", Options{}, withURL, "needs a secret"},
		{"generic hmac without a header", "hmac", o, withURL, "needs `header"},
		{"option the preset does not take", "github", Options{Secrets: []string{secret}, Header: "X-Other"}, withURL, "does not take `header`"},
		{"whsec secret that is not base64", "standard", Options{Secrets: []string{"whsec_!!" + secret}}, withURL, "whsec_"},
		{"square without the URL", "square", o, SignRequest{Body: []byte(`{}`)}, "needs the URL"},
		{"query token without the URL", "shotstack", o, SignRequest{Body: []byte(`{}`)}, "needs the URL"},
		{"twilio without the URL", "twilio", o, SignRequest{Body: []byte(`{}`)}, "needs the URL"},
		{"contentful without the URL", "contentful", o, SignRequest{Body: []byte(`{}`)}, "needs the URL"},
		{"twilio body neither form nor JSON", "twilio", o, SignRequest{URL: "https://ex.com/", Body: []byte("a=%zz"),
			Header: signHeader("Content-Type", "application/x-www-form-urlencoded")}, "neither JSON nor a form"},
		{"twilio unknown algorithm", "twilio", o, SignRequest{URL: "https://ex.com/", Body: []byte("a=b"),
			Header: signHeader(twilioSettingsHeader, "algorithm=HMAC_MD5")}, "unknown algorithm"},
		{"livekit without the API key", "livekit", o, withURL, "api_key"},
		{"jwplayer body not an object", "jwplayer", o, SignRequest{Body: []byte(`[1]`)}, "JSON object"},
		{"signed timestamp without a timestamp header", "hmac", Options{Secrets: []string{secret}, Header: "X-Sig",
			Signed: "{timestamp}{body}"}, withURL, "timestamp_header"},
		{"ed25519", "discord", Options{PublicKeys: []string{strings.Repeat("ab", 32)}}, withURL, "private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := presetByName(tt.provider); !ok && tt.provider != "nope" {
				t.Skipf("preset %s not in the table yet", tt.provider)
			}
			_, _, err := Sign(tt.provider, tt.opts, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// BenchmarkSign is the cost of `caddy webhook send` per request.
func BenchmarkSign(b *testing.B) {
	o := Options{Secrets: []string{signWhsec}}
	req := SignRequest{Body: []byte(signS14Body), ID: "msg_1", Now: signS14Now}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Sign("standard", o, req); err != nil {
			b.Fatal(err)
		}
	}
}

// A padded base64 SHA-512 MAC is 88 characters; it must verify.
func TestHMACSHA512Base64(t *testing.T) {
	o := Options{Secrets: []string{"k"}, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"}
	body := []byte(`{"id":"evt_512"}`)
	h, _, err := Sign("hmac", o, SignRequest{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Get("X-Sig")); n != 88 {
		t.Fatalf("signature is %d characters, want 88", n)
	}
	v, err := New("hmac", o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(&Request{Method: "POST", Header: h, Body: body}); err != nil {
		t.Fatalf("sha512 base64: %v", err)
	}
}
