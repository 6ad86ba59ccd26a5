package verify

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"
)

// vector is a request signed by a provider (or by its SDK in a published
// test) together with what verifying it must yield.
type vector struct {
	name     string
	provider string
	opts     Options
	wrong    Options // the same with a wrong secret or key
	method   string
	url      string
	header   http.Header
	body     string
	signedAt time.Time // zero when the scheme signs no timestamp
	sigHdr   string    // the header whose absence must fail
	wantID   string
	// bodyFree: the scheme authenticates the sender, not the body (tokens).
	bodyFree bool
	// tampered replaces the body for the tampered-body test when appending
	// a space would not change what is signed (JSON compared as values).
	tampered string
	// unsigned is the body without its signature, for schemes that carry
	// the signature in the body (sigHdr is then "").
	unsigned string
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func secrets(s ...string) Options { return Options{Secrets: s} }

const (
	stdSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdWrong  = "whsec_d3Jvbmcgc2VjcmV0IGtleSBmb3IgdGVzdHM="
	stdBody   = `{"test": 2432232314}`
	stdSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	stdID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"

	slackBody = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"

	sendgridKey  = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
	sendgridBody = `[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]` + "\r\n"
	sendgridSig  = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="

	discordPub = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
	discordSig = "f586f8c3650c3322ac5f08321a41265709aaf2e6941e7c2e4c27f7afc3234f07d974a7724f4b21106869234183284cc22cd004eff9b8c56f1c260118412d650c"

	// The independent vectors: the simple-HMAC providers' shared inputs.
	s14Secret = "test_secret"
	s14Body   = `{"id":"evt_1"}`
	s14TS     = "1700000000"
)

// otherEd25519 and otherRSA are keys that signed none of the vectors.
var (
	otherEd25519 = func() string {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		return hex.EncodeToString(pub)
	}()
	testRSA    = mustRSA()
	otherRSA   = mustRSA()
	sendgridOK = Options{PublicKeys: []string{sendgridKey}}
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func spki(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func rsaSign(k *rsa.PrivateKey, msg string) string {
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func mac64(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func unix(s int64) time.Time { return time.Unix(s, 0) }

func vectors() []vector {
	return append(append(append(firstVectors(), longTailVectors()...), moreVectors()...), publishedVectors()...)
}

func firstVectors() []vector {
	genericRSA := Options{PublicKeys: []string{spki(testRSA)}, Header: "X-Signature",
		Signed: "{timestamp}.{body}", TimestampHeader: "X-Timestamp"}
	genericRSAWrong := genericRSA
	genericRSAWrong.PublicKeys = []string{spki(otherRSA)}
	return []vector{
		{
			name: "standard webhooks SDK vector", provider: "standard",
			opts: secrets(stdSecret), wrong: secrets(stdWrong),
			header: hdr("webhook-id", stdID, "webhook-timestamp", "1614265330", "webhook-signature", stdSig),
			body:   stdBody, signedAt: unix(1614265330), sigHdr: "webhook-signature", wantID: stdID,
		},
		{
			name: "standard webhooks: rotated list with other versions", provider: "standard",
			opts: secrets(stdSecret), wrong: secrets(stdWrong),
			header: hdr("webhook-id", stdID, "webhook-timestamp", "1614265330",
				"webhook-signature", "v1a,AAAA v1,bm90IHRoZSByaWdodCBvbmUgYXQgYWxsIG5vIG5vIG5vIQ== "+stdSig),
			body: stdBody, signedAt: unix(1614265330), sigHdr: "webhook-signature", wantID: stdID,
		},
		{
			name: "svix SDK vector", provider: "svix",
			opts: secrets(stdSecret), wrong: secrets(stdWrong),
			header: hdr("svix-id", stdID, "svix-timestamp", "1614265330", "svix-signature", stdSig),
			body:   stdBody, signedAt: unix(1614265330), sigHdr: "svix-signature", wantID: stdID,
		},
		{
			name: "github docs vector", provider: "github",
			opts: secrets("It's a Secret to Everybody"), wrong: secrets("It's a secret to everybody"),
			header: hdr("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
				"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
			body: "Hello, World!", sigHdr: "X-Hub-Signature-256", wantID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		},
		{
			name: "github octokit vector", provider: "github",
			opts: secrets("secret"), wrong: secrets("secreT"),
			header: hdr("X-Hub-Signature-256", "sha256=1b2c16b75bd2a870c114153ccda5bcfca63314bc722fa160d690de133ccbb9db"),
			body:   "data", sigHdr: "X-Hub-Signature-256",
		},
		{
			name: "github independent vector", provider: "github",
			opts: secrets(s14Secret), wrong: secrets("test_secreT"),
			header: hdr("X-Hub-Signature-256", "sha256=c99dcd69e2f455a559a87dcb03ec937afb162c4907f8a198fff25e657028060d"),
			body:   s14Body, sigHdr: "X-Hub-Signature-256",
		},
		{
			name: "slack docs vector (form body, no event id)", provider: "slack",
			opts: secrets("8f742231b10e8888abcd99yyyzzz85a5"), wrong: secrets("8f742231b10e8888abcd99yyyzzz85a6"),
			header: hdr("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
				"X-Slack-Request-Timestamp", "1531420618"),
			body: slackBody, signedAt: unix(1531420618), sigHdr: "X-Slack-Signature",
		},
		{
			name: "slack independent vector", provider: "slack",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("X-Slack-Signature", "v0=648168589f1a2dc2b5c682268f07236da81ee1230d357405d1773400763dd7ee",
				"X-Slack-Request-Timestamp", s14TS),
			body: s14Body, signedAt: unix(1700000000), sigHdr: "X-Slack-Signature",
		},
		{
			name: "shopify independent vector", provider: "shopify",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("X-Shopify-Hmac-Sha256", "yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0=",
				"X-Shopify-Webhook-Id", "wh-1", "X-Shopify-Event-Id", "ev-1"),
			body: s14Body, sigHdr: "X-Shopify-Hmac-Sha256", wantID: "ev-1",
		},
		{
			name: "shopify falls back to the webhook id", provider: "shopify",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("X-Shopify-Hmac-Sha256", "yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0=", "X-Shopify-Webhook-Id", "wh-1"),
			body:   s14Body, sigHdr: "X-Shopify-Hmac-Sha256", wantID: "wh-1",
		},
		{
			name: "twilio SDK form vector", provider: "twilio",
			opts: secrets("12345"), wrong: secrets("54321"), method: "POST",
			url:    "https://mycompany.com/myapp.php?foo=1&bar=2",
			header: hdr("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "I-Twilio-Idempotency-Token", "idem-1"),
			body:   "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212",
			sigHdr: "X-Twilio-Signature", wantID: "idem-1",
		},
		{
			name: "twilio SDK form vector, URL with default port", provider: "twilio",
			opts: secrets("12345"), wrong: secrets("54321"), method: "POST",
			url:    "https://mycompany.com:443/myapp.php?foo=1&bar=2",
			header: hdr("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
			body:   "To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE",
			sigHdr: "X-Twilio-Signature",
		},
		{
			name: "twilio SDK JSON vector", provider: "twilio",
			opts: secrets("12345"), wrong: secrets("54321"), method: "POST",
			url:    "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
			header: hdr("X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4=", "Content-Type", "application/json"),
			body:   `{"property": "value", "boolean": true}`, sigHdr: "X-Twilio-Signature",
		},
		{
			name: "mux SDK vector", provider: "mux",
			opts: secrets("SuperSecret123"), wrong: secrets("SuperSecret124"),
			header: hdr("Mux-Signature", "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7"),
			body:   `{"test":"body"}`, signedAt: unix(1565125718), sigHdr: "Mux-Signature",
		},
		{
			name: "mux SDK vector with several v1", provider: "mux",
			opts: secrets("SuperSecret123"), wrong: secrets("SuperSecret124"),
			header: hdr("Mux-Signature", "t=1565125718,v1=invalid,v1=bd315c24bce1c2b8ad325696f26530c8ef7d7d830afb7c1381903705d04607be"),
			body:   `{"test":{"nested":{"nanos":718234, "seconds":1691711005}}}`, signedAt: unix(1565125718), sigHdr: "Mux-Signature",
		},
		{
			name: "mux independent vector with body id", provider: "mux",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("Mux-Signature", "t=1700000000,v1=4c37aa57e00dc0b77c9d05fb2e7eef4029eaa8704fb4d1565722b3756924a01d"),
			body:   s14Body, signedAt: unix(1700000000), sigHdr: "Mux-Signature", wantID: "evt_1",
		},
		{
			name: "cloudinary SDK vector (sha256)", provider: "cloudinary",
			opts:     Options{Secrets: []string{"hardcoded"}, Algorithm: "sha256"},
			wrong:    Options{Secrets: []string{"hardcodeD"}, Algorithm: "sha256"},
			header:   hdr("X-Cld-Signature", "6c5a29fd8815772fbac2f10ae741e093d0859313947ef8fadeb29126ded6649c", "X-Cld-Timestamp", "7952342400000"),
			body:     `{"public_id":"b8sjhoslj8cq8ovoa0ma","version":"1555337587","width":1000,"height":800}`,
			signedAt: unix(7952342400000), sigHdr: "X-Cld-Signature",
		},
		{
			name: "cloudinary sha1 default", provider: "cloudinary",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("X-Cld-Signature", sha1Hex(s14Body+s14TS+s14Secret), "X-Cld-Timestamp", s14TS),
			body:   s14Body, signedAt: unix(1700000000), sigHdr: "X-Cld-Signature",
		},
		{
			name: "stripe SDK vector", provider: "stripe",
			opts: secrets("whsec_test_secret"), wrong: secrets("whsec_test_secreT"),
			header: hdr("Stripe-Signature", "t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"),
			body:   `{"id":"evt_test_webhook","object":"event"}`, signedAt: unix(1700000000), sigHdr: "Stripe-Signature",
			wantID: "evt_test_webhook",
		},
		{
			name: "stripe roll: old v1, good v1, test-mode v0", provider: "stripe",
			opts: secrets("whsec_test_secret"), wrong: secrets("whsec_test_secreT"),
			header: hdr("Stripe-Signature", "t=1700000000,v1=00000000000000000000000000000000000000000000000000000000000000ff,"+
				"v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"),
			body: `{"id":"evt_test_webhook","object":"event"}`, signedAt: unix(1700000000), sigHdr: "Stripe-Signature",
			wantID: "evt_test_webhook",
		},
		{
			name: "discord vector", provider: "discord",
			opts: Options{PublicKeys: []string{discordPub}}, wrong: Options{PublicKeys: []string{otherEd25519}},
			header: hdr("X-Signature-Ed25519", discordSig, "X-Signature-Timestamp", "1700000000"),
			body:   `{"type":1}`, signedAt: unix(1700000000), sigHdr: "X-Signature-Ed25519",
		},
		{
			name: "contentful toolkit vector", provider: "contentful",
			opts: secrets(repeat('a', 64)), wrong: secrets(repeat('b', 64)), method: "POST",
			url: "https://hooks.example.com/webhook",
			header: hdr("X-Contentful-Topic", "ContentManagement.Entry.publish",
				"X-Contentful-Signature", "e4ac05ada71bd77c938e2a97368de4fa46b9ef4e6f9e91b7dbdc8ecc4a75b1e1",
				"X-Contentful-Signed-Headers", "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic",
				"X-Contentful-Timestamp", "1700000000000"),
			body: `{"sys":{"id":"e1"}}`, signedAt: time.UnixMilli(1700000000000), sigHdr: "X-Contentful-Signature",
		},
		{
			name: "sendgrid SDK vector", provider: "sendgrid",
			opts: sendgridOK, wrong: Options{PublicKeys: []string{"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="}},
			header: hdr("X-Twilio-Email-Event-Webhook-Signature", sendgridSig, "X-Twilio-Email-Event-Webhook-Timestamp", "1600112502"),
			body:   sendgridBody, signedAt: unix(1600112502), sigHdr: "X-Twilio-Email-Event-Webhook-Signature",
		},
		{
			name: "paddle SDK vector", provider: "paddle",
			opts: secrets("VALID_SECRET"), wrong: secrets("INVALID_SECRET"),
			header: hdr("Paddle-Signature", "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9"),
			body:   `{"data": ["1", "2"]}`, signedAt: unix(1698796800), sigHdr: "Paddle-Signature",
		},
		{
			name: "paddle independent vector, rotated h1 list", provider: "paddle",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("Paddle-Signature", "ts=1700000000;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9;h1=2c97f1df03905ab228f5f9c747b7bb78d2130f2e7caf840c7f628d1e51ac0b76"),
			body:   s14Body, signedAt: unix(1700000000), sigHdr: "Paddle-Signature",
		},
		{
			name: "square SDK vector", provider: "square",
			opts: secrets("Ibxx_5AKakO-3qeNVR61Dw"), wrong: secrets("signature-key"),
			url:    "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
			header: hdr("x-square-hmacsha256-signature", "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="),
			body:   `{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}`,
			sigHdr: "x-square-hmacsha256-signature", wantID: "ac3ac95b-f97d-458c-a6e6-18981597e05f",
		},
		{
			name: "square independent vector", provider: "square",
			opts: secrets(s14Secret), wrong: secrets("x"), url: "https://ex.com/hook",
			header: hdr("x-square-hmacsha256-signature", "pZaX0FsrWet1+lB5DckDbVkK89DIILZhcpXLk7VU4nc="),
			body:   s14Body, sigHdr: "x-square-hmacsha256-signature",
		},
		{
			name: "twitch independent vector (RFC 3339 with nanoseconds)", provider: "twitch",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("Twitch-Eventsub-Message-Signature", "sha256=ffde07e2fd9cc97b4a87180890d18e4d1ab22f92f29aff420443bf0ce9a19efa",
				"Twitch-Eventsub-Message-Id", "msg_1", "Twitch-Eventsub-Message-Timestamp", "2023-11-14T22:13:20.123456789Z"),
			body: s14Body, signedAt: time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC),
			sigHdr: "Twitch-Eventsub-Message-Signature", wantID: "msg_1",
		},
		{
			name: "intercom independent vector", provider: "intercom",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("X-Hub-Signature", "sha1=52d008f981a31c0a7aceb0aa9d874cad9e3bf3da"),
			body:   s14Body, sigHdr: "X-Hub-Signature", wantID: "evt_1",
		},
		{
			name: "typeform independent vector", provider: "typeform",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("Typeform-Signature", "sha256=yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0="),
			body:   s14Body, sigHdr: "Typeform-Signature",
		},
		{
			name: "api.video docs vector", provider: "apivideo",
			opts: secrets("sig_sec_0000000000000000000000"), wrong: secrets("sig_sec_0000000000000000000001"),
			header: hdr("X-Api-Video-Signature", "27a77d3a7fc626854886b5dbfae4e32c8b0170c1ea1b714c91ba77f1e7774e8c"),
			body:   `{"type":"video.encoding.quality.completed","emittedAt":"2021-01-29T15:46:25.217Z","videoId":"vi0000000000000000000000","liveStreamId":"li0000000000000000000000","encoding":"hls","quality":"720p"}`,
			sigHdr: "X-Api-Video-Signature",
		},
		{
			name: "hmac generic: hex body (independent vector)", provider: "hmac",
			opts:   Options{Secrets: []string{s14Secret}, Header: "X-Dropbox-Signature"},
			wrong:  Options{Secrets: []string{"x"}, Header: "X-Dropbox-Signature"},
			header: hdr("X-Dropbox-Signature", "c99dcd69e2f455a559a87dcb03ec937afb162c4907f8a198fff25e657028060d"),
			body:   s14Body, sigHdr: "X-Dropbox-Signature",
		},
		{
			name: "hmac generic: Zoom-style v0 template", provider: "hmac",
			opts: Options{Secrets: []string{s14Secret}, Header: "x-zm-signature", Prefix: "v0=",
				Signed: "v0:{timestamp}:{body}", TimestampHeader: "x-zm-request-timestamp"},
			wrong: Options{Secrets: []string{"x"}, Header: "x-zm-signature", Prefix: "v0=",
				Signed: "v0:{timestamp}:{body}", TimestampHeader: "x-zm-request-timestamp"},
			header: hdr("x-zm-signature", "v0=648168589f1a2dc2b5c682268f07236da81ee1230d357405d1773400763dd7ee", "x-zm-request-timestamp", s14TS),
			body:   s14Body, signedAt: unix(1700000000), sigHdr: "x-zm-signature",
		},
		{
			name: "hmac generic: Twitch-style rfc3339 with id header", provider: "hmac",
			opts: Options{Secrets: []string{s14Secret}, Header: "X-Sig", Prefix: "sha256=", Signed: "{id}{timestamp}{body}",
				TimestampHeader: "X-Ts", TimestampFormat: "rfc3339", IDHeader: "X-Id"},
			wrong: Options{Secrets: []string{"x"}, Header: "X-Sig", Prefix: "sha256=", Signed: "{id}{timestamp}{body}",
				TimestampHeader: "X-Ts", TimestampFormat: "rfc3339", IDHeader: "X-Id"},
			header: hdr("X-Sig", "sha256=ffde07e2fd9cc97b4a87180890d18e4d1ab22f92f29aff420443bf0ce9a19efa",
				"X-Id", "msg_1", "X-Ts", "2023-11-14T22:13:20.123456789Z"),
			body: s14Body, signedAt: time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC), sigHdr: "X-Sig", wantID: "msg_1",
		},
		{
			name: "hmac generic: base64 with {header.Name} and unix_ms", provider: "hmac",
			opts: Options{Secrets: []string{s14Secret}, Header: "X-Sig", Encoding: "base64", Signed: "{header.X-Topic}|{timestamp}|{body}",
				TimestampHeader: "X-Ts", TimestampFormat: "unix_ms"},
			wrong: Options{Secrets: []string{"x"}, Header: "X-Sig", Encoding: "base64", Signed: "{header.X-Topic}|{timestamp}|{body}",
				TimestampHeader: "X-Ts", TimestampFormat: "unix_ms"},
			header: hdr("X-Sig", mac64(s14Secret, "orders|1700000000000|"+s14Body), "X-Topic", "orders", "X-Ts", "1700000000000"),
			body:   s14Body, signedAt: time.UnixMilli(1700000000000), sigHdr: "X-Sig",
		},
		{
			name: "rsa generic (PKCS#1 v1.5, SHA-256)", provider: "rsa",
			opts: genericRSA, wrong: genericRSAWrong,
			header: hdr("X-Signature", rsaSign(testRSA, s14TS+"."+s14Body), "X-Timestamp", s14TS),
			body:   s14Body, signedAt: unix(1700000000), sigHdr: "X-Signature",
		},
		{
			name: "shotstack token in the callback URL", provider: "shotstack",
			opts: secrets("tok-123"), wrong: secrets("tok-124"),
			url:    "https://hooks.example.com/shotstack?token=tok-123",
			body:   `{"type":"edit","action":"render","id":"d2b46ed6-998a-4d6b-9d91-b8cf0193a655","status":"done"}`,
			wantID: "d2b46ed6-998a-4d6b-9d91-b8cf0193a655:edit", bodyFree: true,
		},
		{
			name: "shotstack token in a header", provider: "shotstack",
			opts: Options{Secrets: []string{"tok-123"}, Header: "X-Callback-Token"}, wrong: Options{Secrets: []string{"tok-124"}, Header: "X-Callback-Token"},
			header: hdr("X-Callback-Token", "tok-123"),
			body:   `{"type":"serve","id":"r1"}`, sigHdr: "X-Callback-Token", wantID: "r1:serve", bodyFree: true,
		},
		{
			name: "gitlab token", provider: "gitlab",
			opts: secrets("glsecret"), wrong: secrets("glsecreT"),
			header: hdr("X-Gitlab-Token", "glsecret", "Idempotency-Key", "idem-9"),
			body:   `{}`, sigHdr: "X-Gitlab-Token", wantID: "idem-9", bodyFree: true,
		},
		{
			name: "token generic with Bearer prefix", provider: "token",
			opts:   Options{Secrets: []string{"s3cr3t"}, Header: "Authorization", Prefix: "Bearer "},
			wrong:  Options{Secrets: []string{"s3cr3T"}, Header: "Authorization", Prefix: "Bearer "},
			header: hdr("Authorization", "Bearer s3cr3t"),
			body:   `{}`, sigHdr: "Authorization", bodyFree: true,
		},
		{
			name: "basic auth", provider: "basic",
			opts: Options{Secrets: []string{"postmark:hunter2"}, IDHeader: "X-Request-Id"}, wrong: secrets("postmark:hunter3"),
			header: hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("postmark:hunter2")), "X-Request-Id", "r-7"),
			body:   `{}`, sigHdr: "Authorization", wantID: "r-7", bodyFree: true,
		},
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func (v vector) request() *Request {
	method := v.method
	if method == "" {
		method = "POST"
	}
	url := v.url
	if url == "" {
		url = "https://hooks.example.com/hook"
	}
	now := v.signedAt
	if now.IsZero() {
		now = unix(1700000000)
	}
	return &Request{Method: method, URL: url, Header: v.header.Clone(), Body: []byte(v.body), Now: now}
}
