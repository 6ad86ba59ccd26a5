package verify

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Independent vectors of the video, media and general senders added after
// the first fifty presets: s14Body signed with s14Secret (python3 hmac),
// except Agora's, which is the one its documentation publishes. Hygraph's
// is accepted by @hygraph/utils verifyWebhookSignature. Sanity's
// and WorkOS's are also what their npm packages make of the same input
// (test/providers_sdk_test.go signs with them at test time).
const (
	agoraBody = `{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}`
	agoraSig  = "de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24"

	// Daily's and Airtable's secrets are base64: this one decodes to
	// s14Secret.
	dailySecret = "dGVzdF9zZWNyZXQ="
	dailySig    = "TDeqV+ANwLd8nQX7Ln7vQCnqqHBPtNFWVyKzdWkkoB0=" // b64 HMAC-SHA256("1700000000." + body)

	livepeerBody = `{"id":"evt_1","event":"asset.ready","timestamp":1700000000000}`
	livepeerSig  = "1c9283b9417d01b87a03ab609c99f1c82cb7d7055532a4a4edae2a0e41359c77" // hex HMAC-SHA256(body)

	workosSig    = "0d8e9355a81b1add43ed2d3af71f9242c9a7002ee629dd144d99c1f3e9fbcfc7" // hex HMAC-SHA256("1700000000000." + body)
	sanitySig    = "DY6TVagbGt1D7S069x-SQsmnAC7mKd0UTZnB8-n7z8c"                      // raw base64url, same input
	webflowSig   = "c362104483bcb944d164a96793c2db8ab869c4dbdb70d0d506ad526591570671" // hex HMAC-SHA256("1700000000000:" + body)
	terraformSig = "a3dc5bb5c223f901bba6feb0f1a1b2affc15da5f86a30820693c8f4f90555b21135a4ac84341a9c0b789e5221730c8d7e07db1eb7d29e46a229048ec50be88a1"
	boxSig       = "JLtYE+zBVfPreQ3Fk4rqAVempW9PV4qk9KBOrZDk6tk=" // b64 HMAC-SHA256(body + "2023-11-14T22:13:20Z")
	zendeskSig   = "Nn6sdxSxGZmZVd8pAY0ioGxDDf+9tkNi3YBBMVxMgyQ=" // b64 HMAC-SHA256("2023-11-14T22:13:20Z" + body)
	s14RFC3339   = "2023-11-14T22:13:20Z"                         // s14TS

	// Braintree: python3 hmac of the base64 XML payload (and newline) keyed
	// by SHA-1("test_private_key"), among another key's pair.
	braintreeBody = "bt_signature=other_pub%7C0000000000000000000000000000000000000000%26test_public_key%7C22d2b040086d10aa6e7e84d0d10390d55b18b20c" +
		"&bt_payload=PG5vdGlmaWNhdGlvbj48a2luZD5jaGVjazwva2luZD48dGltZXN0YW1wIHR5cGU9ImRhdGV0aW1lIj4yMDIzLTExLTE0VDIyOjEzOjIwWjwvdGltZXN0YW1wPjxzdWJqZWN0PjxjaGVjayB0eXBlPSJib29sZWFuIj50cnVlPC9jaGVjaz48L3N1YmplY3Q%2BPC9ub3RpZmljYXRpb24%2B%0A"

	// Netlify: HS256 tokens made with python3 hmac over
	// {"iss":"netlify","sha256":hex(SHA-256(s14Body))}, and the same
	// claims issued by "other".
	netlifyToken       = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiNDA5OTNjNjM5ZmZiNWYxM2EwYTJlZjVjOTNjOTY1ZjEwYjQwNWYyYjg3YTM3OTI3MjM4MWRhMmRiYzE1OGRmYSJ9.74ydCyWWoaKv4p1DEBMw7UGDwzq8bFQis4H2acVrsP8"
	netlifyOtherIssuer = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJvdGhlciIsInNoYTI1NiI6IjQwOTkzYzYzOWZmYjVmMTNhMGEyZWY1YzkzYzk2NWYxMGI0MDVmMmI4N2EzNzkyNzIzODFkYTJkYmMxNThkZmEifQ.x0BFtjtbY37qjoZSo3G6vkxDSjy_V89XsBbsyTZRqGI"
)

// telnyxKey is the ed25519 key of seed 0x01..0x20 (Discord's vector key),
// its public half in base64 as Telnyx shows keys.
var telnyxKey = func() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	return ed25519.NewKeyFromSeed(seed)
}()

func telnyxVector() vector {
	pub := base64.StdEncoding.EncodeToString(telnyxKey.Public().(ed25519.PublicKey))
	body := `{"data":{"id":"evt_1","event_type":"call.hangup"}}`
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(telnyxKey, []byte(s14TS+"|"+body)))
	other, _ := hex.DecodeString(otherEd25519)
	return vector{
		name: "telnyx (Go ed25519, base64 key)", provider: "telnyx",
		opts: Options{PublicKeys: []string{pub}}, wrong: Options{PublicKeys: []string{base64.StdEncoding.EncodeToString(other)}},
		header: hdr("telnyx-signature-ed25519", sig, "telnyx-timestamp", s14TS),
		body:   body, signedAt: unix(1700000000), sigHdr: "telnyx-signature-ed25519", wantID: "evt_1",
	}
}

func moreVectors() []vector {
	at := unix(1700000000)
	ms := time.UnixMilli(1700000000000)
	rfc := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	return []vector{
		stdWebhook("replicate Standard Webhooks SDK vector", "replicate", "webhook"),
		{
			name: "agora docs vector", provider: "agora",
			opts: secrets("secret"), wrong: secrets("secreT"),
			header: hdr("Agora-Signature-V2", agoraSig), body: agoraBody,
			sigHdr: "Agora-Signature-V2", wantID: "4eb720f0-8da7-11e9-a43e-53f411c2761f",
		},
		{
			name: "daily independent vector (base64 secret)", provider: "daily",
			opts: secrets(dailySecret), wrong: secrets("dGVzdF9zZWNyZVQ="),
			header: hdr("X-Webhook-Signature", dailySig, "X-Webhook-Timestamp", s14TS),
			body:   s14Body, signedAt: at, sigHdr: "X-Webhook-Signature", wantID: "evt_1",
		},
		withTS(withID(s14("cloudflare-stream", "Webhook-Signature", "time="+s14TS+",sig1="+s14Dot), ""), at),
		{
			name: "livepeer independent vector (timestamp in the body)", provider: "livepeer",
			opts: secrets(s14Secret), wrong: secrets("test_secreT"),
			header: hdr("Livepeer-Signature", "t=1,v1="+livepeerSig), body: livepeerBody,
			signedAt: ms, sigHdr: "Livepeer-Signature", wantID: "evt_1",
		},
		withTS(s14("elevenlabs", "ElevenLabs-Signature", "t="+s14TS+",v0="+s14Dot), at),
		s14("youtube", "X-Hub-Signature", "sha1="+s14SHA1),
		withID(s14("heygen", "Signature", s14Hex), ""),
		telnyxVector(),
		falVector(),
		paypalVector(),
		plaidVector(),
		withID(withTS(s14("workos", "WorkOS-Signature", "t=1700000000000, v1="+workosSig), ms), "evt_1"),
		withID(withTS(s14("sanity", "sanity-webhook-signature", "t=1700000000000,v1="+sanitySig, "idempotency-key", "idem-1"), ms), "idem-1"),
		withID(s14("razorpay", "X-Razorpay-Signature", s14Hex, "x-razorpay-event-id", "ev-1"), "ev-1"),
		s14("coinbase-commerce", "X-CC-Webhook-Signature", s14Hex),
		withTS(s14("webflow", "x-webflow-signature", webflowSig, "x-webflow-timestamp", "1700000000000"), ms),
		withID(withTS(s14("customerio", "X-CIO-Signature", s14V0[len("v0="):], "X-CIO-Timestamp", s14TS), at), ""),
		s14("terraform", "X-TFE-Notification-Signature", terraformSig),
		withTS(s14("buildkite", "X-Buildkite-Signature", "timestamp="+s14TS+",signature="+s14Dot), at),
		s14("heroku", "Heroku-Webhook-Hmac-SHA256", s14Base64),
		s14("launchdarkly", "X-LD-Signature", s14Hex),
		withID(s14("circleci", "circleci-signature", "v1="+s14Hex), "evt_1"),
		s14("pagerduty", "X-PagerDuty-Signature", "v1=0000000000000000000000000000000000000000000000000000000000000000,v1="+s14Hex),
		withID(withTS(s14("box", "box-signature-primary", boxSig, "box-delivery-timestamp", s14RFC3339, "box-delivery-id", "d-1"), rfc), "d-1"),
		{
			name: "postmark basic auth", provider: "postmark",
			opts: secrets("hooks:pa55"), wrong: secrets("hooks:pa56"),
			header: hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hooks:pa55"))),
			body:   `{"RecordType":"Bounce","MessageID":"m-1"}`, sigHdr: "Authorization", wantID: "m-1:Bounce", bodyFree: true,
		},
		s14("segment", "X-Signature", s14SHA1),
		s14("lemonsqueezy", "X-Signature", s14Hex),
		withTS(s14("persona", "Persona-Signature", "t="+s14TS+",v1="+s14Dot), at),
		{
			name: "persona rotation: two space-separated pairs, the last one signed with the configured secret", provider: "persona",
			opts: secrets(s14Secret), wrong: secrets("test_secreT"),
			header: hdr("Persona-Signature", "t="+s14TS+",v1="+strings.Repeat("0", 64)+" t="+s14TS+",v1="+s14Dot),
			body:   s14Body, signedAt: at, sigHdr: "Persona-Signature",
		},
		s14("storyblok", "webhook-signature", s14SHA1),
		s14("instagram", "X-Hub-Signature-256", "sha256="+s14Hex),
		s14("whatsapp", "X-Hub-Signature-256", "sha256="+s14Hex),
		s14("threads", "X-Hub-Signature-256", "sha256="+s14Hex),
		s14("x", "x-twitter-webhooks-signature", "sha256="+s14Base64),
		{
			name: "airtable independent vector (base64 MAC secret)", provider: "airtable",
			opts: secrets(dailySecret), wrong: secrets("dGVzdF9zZWNyZVQ="),
			header: hdr("X-Airtable-Content-MAC", "hmac-sha256="+s14Hex), body: s14Body, sigHdr: "X-Airtable-Content-MAC",
		},
		withTS(s14("hygraph", "gcms-signature", "sign=1BnPM0mAebp1YYzzAsEBla/humV3YXkB5pDD+jRqI4I=, env=master, t=1700000000000"), time.UnixMilli(1700000000000)),
		{
			name: "braintree independent vector (two signature pairs)", provider: "braintree",
			opts:     Options{KeyID: "test_public_key", Secrets: []string{"test_private_key"}},
			wrong:    Options{KeyID: "test_public_key", Secrets: []string{"other_private_key"}},
			body:     braintreeBody,
			unsigned: braintreeBody[strings.Index(braintreeBody, "&bt_payload=")+1:],
		},
		withID(s14("netlify", "X-Webhook-Signature", netlifyToken), ""),
		withID(withTS(s14("zendesk", "X-Zendesk-Webhook-Signature", zendeskSig, "X-Zendesk-Webhook-Signature-Timestamp", s14RFC3339), rfc), "evt_1"),
	}
}

// TestNetlifyIssuer: a token of the right secret and body hash issued by
// anyone but netlify is refused.
func TestNetlifyIssuer(t *testing.T) {
	v := mustNew(t, "netlify", secrets(s14Secret))
	r := &Request{Method: "POST", URL: "https://hooks.example.com/hook", Body: []byte(s14Body),
		Header: hdr("X-Webhook-Signature", netlifyOtherIssuer), Now: unix(1700000000)}
	_, err := v.Verify(r)
	wantErr(t, err, ErrInvalidSignature)
}

// TestMetaFamilyHandshake: Instagram, WhatsApp and Threads subscribe with
// Meta's GET hub.challenge check, answered only for the verify token.
func TestMetaFamilyHandshake(t *testing.T) {
	for _, p := range []string{"instagram", "whatsapp", "threads"} {
		v := mustNew(t, p, secrets(s14Secret))
		r := &Request{Method: "GET", URL: "https://hooks.example.com/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=tok"}
		if a, ok := v.HandshakeGET(r, "tok"); !ok || a.Status != 200 || string(a.Body) != "1158201444" {
			t.Errorf("%s: the challenge with the verify token: %+v %v", p, a, ok)
		}
		if a, ok := v.HandshakeGET(r, "other"); !ok || a.Status != 403 {
			t.Errorf("%s: the challenge with another verify token: %+v %v", p, a, ok)
		}
	}
}

// TestXCRC: X's challenge-response check is answered with the current
// consumer secret (python3 hmac of the token); other GETs are not a
// handshake.
func TestXCRC(t *testing.T) {
	v := mustNew(t, "x", secrets(s14Secret, "old_secret"))
	r := &Request{Method: "GET", URL: "https://hooks.example.com/x?crc_token=crc_tok_1"}
	a, ok := v.HandshakeGET(r, "")
	if !ok || a.Status != 200 || a.ContentType != "application/json" ||
		string(a.Body) != `{"response_token":"sha256=r7EjJ+UPdrlMVavEnvBDGlDnBDdRt5mqYEu6cVp5vIQ="}` {
		t.Fatalf("CRC answer: %+v %v (%s)", a, ok, a.Body)
	}
	if _, ok := v.HandshakeGET(&Request{Method: "GET", URL: "https://hooks.example.com/x"}, ""); ok {
		t.Error("a GET without crc_token was taken for the handshake")
	}
}

// TestHygraphJSString: the body is signed as JSON.stringify writes it,
// which escapes less than encoding/json: "<", "&" and U+2028 stay as they
// are, control characters take \u00xx (or their short form).
func TestHygraphJSString(t *testing.T) {
	var b strings.Builder
	jsString(&b, "a\u2028<b>&\x01\"\\\n\té")
	if want := "\"a\u2028<b>&\\u0001\\\"\\\\\\n\\té\""; b.String() != want {
		t.Errorf("jsString = %s, want %s", b.String(), want)
	}
	if _, ok := hygraphSigned([]byte{0xff}, "master", "1"); ok {
		t.Error("a body that is not UTF-8 was signed")
	}
}

// TestWebSubChallenge: YouTube's hub verifies a subscription's intent by
// GET; the challenge is echoed, and with a verify token configured only
// for a request that carries it.
func TestWebSubChallenge(t *testing.T) {
	v := mustNew(t, "youtube", secrets(s14Secret))
	u := "https://hooks.example.com/yt?hub.mode=subscribe&hub.topic=https%3A%2F%2Fwww.youtube.com%2Fxml%2Ffeeds%2Fvideos.xml%3Fchannel_id%3DUC1&hub.challenge=4181&hub.lease_seconds=432000"
	if a, ok := v.HandshakeGET(&Request{Method: "GET", URL: u}, ""); !ok || a.Status != 200 || string(a.Body) != "4181" {
		t.Errorf("intent without a verify token configured: %+v %v", a, ok)
	}
	if a, ok := v.HandshakeGET(&Request{Method: "GET", URL: u}, "tok"); !ok || a.Status != 403 {
		t.Errorf("intent without the configured verify token: %+v %v", a, ok)
	}
	if a, ok := v.HandshakeGET(&Request{Method: "GET", URL: u + "&hub.verify_token=tok"}, "tok"); !ok || a.Status != 200 {
		t.Errorf("intent with the verify token: %+v %v", a, ok)
	}
	if _, ok := v.HandshakeGET(&Request{Method: "GET", URL: "https://hooks.example.com/yt?hub.challenge=1"}, ""); ok {
		t.Error("a GET that is no verification of intent was answered")
	}
}

// TestBraintreeForm: nothing unsigned rides along (another field, a
// second payload), and the challenge of a new webhook URL is answered with
// the public key and the HMAC of the challenge (python3 hmac).
func TestBraintreeForm(t *testing.T) {
	opts := Options{KeyID: "test_public_key", Secrets: []string{"test_private_key"}}
	v := mustNew(t, "braintree", opts)
	for _, body := range []string{braintreeBody + "&extra=1", braintreeBody + "&bt_payload=AAAA", "bt_signature=%zz"} {
		_, err := v.Verify(&Request{Method: "POST", URL: "https://hooks.example.com/bt", Body: []byte(body), Now: unix(1700000000)})
		wantErr(t, err, ErrInvalidSignature)
	}
	a, ok := v.HandshakeGET(&Request{Method: "GET", URL: "https://hooks.example.com/bt?bt_challenge=38aa3e9d0b2b1e9a6f4c"}, "")
	if !ok || a.Status != 200 || string(a.Body) != "test_public_key|7c1f4f1e2e4a576fa5a1bfbb5c363017d4dc9f5e" {
		t.Fatalf("challenge: %+v %v", a, ok)
	}
	if _, ok := v.HandshakeGET(&Request{Method: "GET", URL: "https://hooks.example.com/bt?bt_challenge=not-hex"}, ""); ok {
		t.Error("a challenge of another shape was answered")
	}
}
