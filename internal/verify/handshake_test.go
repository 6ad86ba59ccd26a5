package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var hsNow = time.Unix(1700000000, 0)

// hsSigner makes the provider's signature for a handshake body.
type hsSigner func(t *testing.T, body string, h http.Header) (http.Header, string)

// signedWith signs with Sign, as the provider would with secret o.
func signedWith(provider string, o Options) hsSigner {
	return func(t *testing.T, body string, h http.Header) (http.Header, string) {
		t.Helper()
		hdr, u, err := Sign(provider, o, SignRequest{URL: "https://hooks.example.com/" + provider, Body: []byte(body), Header: h, Now: hsNow})
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		return hdr, u
	}
}

var hsDiscordPub, hsDiscordKey, _ = ed25519.GenerateKey(rand.Reader)

// discordSigned signs as Discord does: ed25519 over timestamp + body.
func discordSigned(_ *testing.T, body string, _ http.Header) (http.Header, string) {
	ts := strconv.FormatInt(hsNow.Unix(), 10)
	h := http.Header{}
	h.Set("X-Signature-Timestamp", ts)
	h.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(hsDiscordKey, []byte(ts+body))))
	return h, "https://hooks.example.com/discord"
}

// snsSigned signs with the remote fixture's certificate, as AWS does.
func snsSigned(*testing.T, string, http.Header) (http.Header, string) {
	return http.Header{"Content-Type": {"text/plain; charset=UTF-8"}}, "https://hooks.example.com/sns"
}

func hsSNSOptions() Options {
	o := fixture().snsOpts()
	o.SNSHost = testSNSHost + `|sns\.[a-z0-9-]+\.amazonaws\.com`
	o.TopicARNs = []string{"arn:aws:sns:us-west-2:123456789012:MyTopic"}
	off := time.Duration(0) // the documentation's messages are from 2012
	o.Tolerance = &off
	return o
}

// snsBody is the AWS documentation's confirmation message, signed.
func snsBody(typ, subscribeURL string) string {
	return fixture().snsSigned(map[string]string{
		"Type": typ, "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
		"Token":    "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
		"TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
		"Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\n" +
			"To confirm the subscription, visit the SubscribeURL included in this message.",
		"SubscribeURL": subscribeURL,
		"Timestamp":    "2012-04-26T20:45:04.751Z",
	}, "2")
}

const (
	snsSubscribeURL = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
	twitchChallenge = `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}`
	zoomValidation  = `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`
)

var nosniff = http.Header{"X-Content-Type-Options": {"nosniff"}}

func jsonOK(body string) *HandshakeAnswer {
	return &HandshakeAnswer{Status: http.StatusOK, ContentType: "application/json", Body: []byte(body)}
}

func textOK(body string) *HandshakeAnswer {
	return &HandshakeAnswer{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(body), Header: nosniff}
}

func checkAnswer(t *testing.T, got *HandshakeAnswer, ok bool, want *HandshakeAnswer) {
	t.Helper()
	if want == nil {
		if ok || got != nil {
			t.Fatalf("answered %+v to a request that is no handshake", got)
		}
		return
	}
	if !ok || got == nil {
		t.Fatal("the handshake was not recognised")
	}
	if got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) ||
		got.ConfirmURL != want.ConfirmURL || got.Note != want.Note {
		t.Errorf("answer = %d %q %s confirm=%q note=%q\nwant     %d %q %s confirm=%q note=%q",
			got.Status, got.ContentType, got.Body, got.ConfirmURL, got.Note,
			want.Status, want.ContentType, want.Body, want.ConfirmURL, want.Note)
	}
	for k := range want.Header {
		if got.Header.Get(k) != want.Header.Get(k) {
			t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), want.Header.Get(k))
		}
	}
}

// TestHandshake sends each provider's documented handshake (and look-alike
// events), signed for real, through Verify and then Handshake, as the glue
// does.
func TestHandshake(t *testing.T) {
	test := Options{Secrets: []string{"test_secret"}}
	withSNSAck := func(note, confirm string) *HandshakeAnswer {
		a := jsonOK(`{"status":"handshake"}`)
		a.Note, a.ConfirmURL = note, confirm
		return a
	}
	tests := []struct {
		name     string
		provider string
		opts     Options // the verifier's
		sign     hsSigner
		body     string
		header   http.Header
		want     *HandshakeAnswer // nil: not a handshake
	}{
		{
			name: "slack url_verification", provider: "slack", opts: test, sign: signedWith("slack", test),
			body: `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`,
			want: jsonOK(`{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`),
		},
		{
			name: "slack event mentioning url_verification", provider: "slack", opts: test, sign: signedWith("slack", test),
			body: `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","team_id":"T1","type":"event_callback","challenge":"x","event":{"type":"message","text":"url_verification"},"event_id":"Ev1"}`,
		},
		{
			name: "slack slash command", provider: "slack", opts: test, sign: signedWith("slack", test),
			body: "command=%2Furl_verification&text=challenge",
		},
		{
			name: "zoom endpoint.url_validation (independent vector)", provider: "zoom", opts: test, sign: signedWith("zoom", test),
			body: zoomValidation,
			want: jsonOK(`{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"af2b71c039092798acffde4bc073be46286db03f4d82bfac9008822d0fac2449"}`),
		},
		{
			// The verifier holds the new secret first; Zoom still signs
			// with the old one, which must answer the challenge.
			name: "zoom during a secret rotation", provider: "zoom",
			opts: Options{Secrets: []string{"new_secret", "test_secret"}}, sign: signedWith("zoom", test),
			body: zoomValidation,
			want: jsonOK(`{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"af2b71c039092798acffde4bc073be46286db03f4d82bfac9008822d0fac2449"}`),
		},
		{
			name: "zoom event", provider: "zoom", opts: test, sign: signedWith("zoom", test),
			body: `{"event":"meeting.started","event_ts":1626230691572,"payload":{"account_id":"AAAAAABBBB","plainToken":"x","object":{"id":"1234567890"}}}`,
		},
		{
			name: "twitch webhook_callback_verification", provider: "twitch", opts: test, sign: signedWith("twitch", test),
			header: signHeader("Twitch-Eventsub-Message-Type", "webhook_callback_verification", "Twitch-Eventsub-Subscription-Type", "channel.follow"),
			body:   twitchChallenge,
			want:   textOK("pogchamp-kappa-360noscope-vohiyo"),
		},
		{
			name: "twitch notification", provider: "twitch", opts: test, sign: signedWith("twitch", test),
			header: signHeader("Twitch-Eventsub-Message-Type", "notification"),
			body:   twitchChallenge,
		},
		{
			name: "twitch verification without a challenge", provider: "twitch", opts: test, sign: signedWith("twitch", test),
			header: signHeader("Twitch-Eventsub-Message-Type", "webhook_callback_verification"),
			body:   `{"subscription":{"id":"f1c2a387"}}`,
		},
		{
			name: "discord interactions PING", provider: "discord", opts: Options{PublicKeys: []string{hex.EncodeToString(hsDiscordPub)}}, sign: discordSigned,
			body: `{"application_id":"11779421447851786","id":"1175520000000000000","token":"aW50ZXJhY3Rpb24","type":1,"user":{"id":"53908232506183680"},"version":1}`,
			want: jsonOK(`{"type":1}`),
		},
		{
			name: "discord webhook events PING", provider: "discord", opts: Options{PublicKeys: []string{hex.EncodeToString(hsDiscordPub)}}, sign: discordSigned,
			body: `{"version":1,"application_id":"1234560123453231555","type":0}`,
			want: &HandshakeAnswer{Status: http.StatusNoContent},
		},
		{
			name: "discord webhook event", provider: "discord", opts: Options{PublicKeys: []string{hex.EncodeToString(hsDiscordPub)}}, sign: discordSigned,
			body: `{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{}}}`,
		},
		{
			name: "discord application command", provider: "discord", opts: Options{PublicKeys: []string{hex.EncodeToString(hsDiscordPub)}}, sign: discordSigned,
			body: `{"application_id":"11779421447851786","id":"1175520000000000001","type":2,"data":{"name":"ping"},"version":1}`,
		},
		{
			name: "sns SubscriptionConfirmation", provider: "sns", opts: hsSNSOptions(), sign: snsSigned,
			body: snsBody("SubscriptionConfirmation", snsSubscribeURL),
			want: withSNSAck("SubscriptionConfirmation", snsSubscribeURL),
		},
		{
			name: "sns SubscriptionConfirmation to a host not allowed", provider: "sns", opts: hsSNSOptions(), sign: snsSigned,
			body: snsBody("SubscriptionConfirmation", "https://attacker.example/?Action=ConfirmSubscription"),
			want: withSNSAck("SubscriptionConfirmation", ""),
		},
		{
			name: "sns UnsubscribeConfirmation", provider: "sns", opts: hsSNSOptions(), sign: snsSigned,
			body: snsBody("UnsubscribeConfirmation", snsSubscribeURL),
			want: withSNSAck("UnsubscribeConfirmation", ""),
		},
		{
			name: "sns Notification", provider: "sns", opts: hsSNSOptions(), sign: snsSigned,
			body: fixture().snsSigned(map[string]string{"Type": "Notification", "MessageId": "22b80b92", "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
				"Message": "SubscriptionConfirmation", "Timestamp": "2012-05-02T00:54:06.655Z"}, "2"),
		},
		{
			name: "github ping (no handshake to answer)", provider: "github", opts: test, sign: signedWith("github", test),
			header: signHeader("X-GitHub-Event", "ping"),
			body:   `{"zen":"Design for failure.","hook_id":1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.provider, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			h, u := tt.sign(t, tt.body, tt.header)
			r := &Request{Method: http.MethodPost, URL: u, Header: h, Body: []byte(tt.body), Now: hsNow}
			if _, err := v.Verify(r); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			a, ok := v.Handshake(r)
			checkAnswer(t, a, ok, tt.want)
			if a, ok := v.HandshakeGET(r, "token"); ok {
				t.Errorf("HandshakeGET answered a POST: %+v", a)
			}
		})
	}
}

// TestZoomHandshakeNeedsTheSignature: Zoom's encryptedToken is an HMAC of
// a string of the sender's choice, so unsigned requests get none.
func TestZoomHandshakeNeedsTheSignature(t *testing.T) {
	v, err := New("zoom", Options{Secrets: []string{"test_secret"}})
	if err != nil {
		t.Fatal(err)
	}
	h, u := signedWith("zoom", Options{Secrets: []string{"another_secret"}})(t, zoomValidation, nil)
	if a, ok := v.Handshake(&Request{Method: http.MethodPost, URL: u, Header: h, Body: []byte(zoomValidation), Now: hsNow}); ok {
		t.Fatalf("answered an unverified url_validation: %s", a.Body)
	}
}

func TestHandshakeGET(t *testing.T) {
	const token = "meatyhamhock"
	forbidden := func(note string) *HandshakeAnswer {
		return &HandshakeAnswer{Status: http.StatusForbidden, ContentType: "application/json",
			Body: []byte(`{"error":"invalid_verify_token"}`), Note: note}
	}
	tests := []struct {
		name     string
		provider string
		method   string
		url      string
		token    string // configured
		want     *HandshakeAnswer
	}{
		{"dropbox challenge", "dropbox", http.MethodGet, "https://hooks.example.com/dropbox?challenge=JGtWBfc1Lt0Ya9B0RYMgM2mBV9hdqa", "",
			textOK("JGtWBfc1Lt0Ya9B0RYMgM2mBV9hdqa")},
		{"dropbox challenge with markup stays text", "dropbox", http.MethodGet, "https://hooks.example.com/dropbox?challenge=%3Cscript%3E", "",
			textOK("<script>")},
		{"dropbox without a challenge", "dropbox", http.MethodGet, "https://hooks.example.com/dropbox", "", nil},
		{"dropbox challenge by POST", "dropbox", http.MethodPost, "https://hooks.example.com/dropbox?challenge=x", "", nil},
		{"facebook subscribe", "facebook", http.MethodGet,
			"https://hooks.example.com/fb?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", token,
			textOK("1158201444")},
		{"facebook wrong verify token", "facebook", http.MethodGet,
			"https://hooks.example.com/fb?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhocks", token,
			forbidden("hub.verify_token does not match the configured verify token")},
		{"facebook without a verify token", "facebook", http.MethodGet,
			"https://hooks.example.com/fb?hub.mode=subscribe&hub.challenge=1158201444", token,
			forbidden("hub.verify_token does not match the configured verify token")},
		{"facebook with no token configured", "facebook", http.MethodGet,
			"https://hooks.example.com/fb?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=", "",
			forbidden("no verify token is configured")},
		{"facebook other mode", "facebook", http.MethodGet,
			"https://hooks.example.com/fb?hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock", token, nil},
		{"facebook without a challenge", "facebook", http.MethodGet,
			"https://hooks.example.com/fb?hub.mode=subscribe&hub.verify_token=meatyhamhock", token, nil},
		{"facebook malformed query", "facebook", http.MethodGet, "https://hooks.example.com/fb?hub.mode=subscribe&hub.challenge=%zz", token, nil},
		{"slack has no GET handshake", "slack", http.MethodGet, "https://hooks.example.com/slack?challenge=x", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.provider, Options{Secrets: []string{"test_secret"}})
			if err != nil {
				t.Fatal(err)
			}
			r := &Request{Method: tt.method, URL: tt.url, Header: http.Header{}}
			a, ok := v.HandshakeGET(r, tt.token)
			checkAnswer(t, a, ok, tt.want)
			if a, ok := v.Handshake(r); ok {
				t.Errorf("Handshake answered an unsigned GET handshake: %+v", a)
			}
		})
	}
}

func TestValidSNSConfirmURL(t *testing.T) {
	localstack, err := snsHostPattern(`localhost:4566`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url   string
		hosts *regexp.Regexp
		want  bool
	}{
		{snsSubscribeURL, nil, true},
		{"https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=t", nil, true},
		{"https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription", nil, true},
		{"http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", nil, false},
		{"https://sns.us-west-2.amazonaws.com.attacker.example/", nil, false},
		{"https://attacker.example/sns.us-west-2.amazonaws.com", nil, false},
		{"https://attacker.example/?u=https://sns.us-west-2.amazonaws.com/", nil, false},
		{"https://user:pw@sns.us-west-2.amazonaws.com/", nil, false},
		{"https://sns.us-west-2.amazonaws.com:8443/", nil, false},
		{"https://sqs.us-west-2.amazonaws.com/", nil, false},
		// Other services' hosts whose first label a user names: the S3
		// bucket "sns", in the legacy dash-region and accelerate forms.
		{"https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem", nil, false},
		{"https://sns.s3-accelerate.amazonaws.com/", nil, false},
		{"https://sns.s3-website-us-east-1.amazonaws.com/", nil, false},
		{"https://sns.us-east-1.amazonaws.com.cn/", nil, false},
		{"https:sns.us-west-2.amazonaws.com", nil, false},
		{"", nil, false},
		{"://sns.us-west-2.amazonaws.com", nil, false},
		{"https://localhost:4566/?Action=ConfirmSubscription", localstack, true},
		{"https://localhost.attacker.example:4566/", localstack, false},
		{snsSubscribeURL, localstack, false},
	}
	for _, tt := range tests {
		if got := ValidSNSConfirmURL(tt.url, tt.hosts); got != tt.want {
			t.Errorf("ValidSNSConfirmURL(%q, %v) = %v, want %v", tt.url, tt.hosts, got, tt.want)
		}
	}
}

func TestSNSHostOption(t *testing.T) {
	if _, err := New("github", Options{Secrets: []string{"s"}, SNSHost: "localhost"}); err == nil {
		t.Error("provider github accepted sns_host")
	}
	if _, err := New("sns", Options{SNSHost: "(", TopicARNs: []string{testTopic}}); err == nil {
		t.Error("provider sns accepted an invalid sns_host regexp")
	}
}

// BenchmarkHandshakeMiss is the cost a Slack event pays for being checked
// for a handshake.
func BenchmarkHandshakeMiss(b *testing.B) {
	o := Options{Secrets: []string{"test_secret"}}
	v, err := New("slack", o)
	if err != nil {
		b.Fatal(err)
	}
	r := &Request{Method: http.MethodPost, Body: []byte(`{"type":"event_callback","event":{"type":"message","text":"hello"},"event_id":"Ev1"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := v.Handshake(r); ok {
			b.Fatal("an event was taken for a handshake")
		}
	}
}
