package test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

const (
	slackSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	zoomSecret     = "test_secret" // the independent vectors' secret
	zoomOldSecret  = "zoom_previous_secret"
	twitchSecret   = "twitch_eventsub_secret_0123456789"
	dropboxSecret  = "dropbox_app_secret"
	facebookSecret = "facebook_app_secret"
	verifyToken    = "meatyhamhock"
	snsTopic       = "arn:aws:sns:us-east-1:123456789012:orders"
)

// handshakeConfig has one route per provider with a handshake, each in
// front of reverse_proxy to the backend; @SNS_HOST@ and @DISCORD_KEY@ are
// filled in once the SNS server and the Discord key exist.
const handshakeConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /slack {
		webhook_verify slack {
			secret ` + slackSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /zoom {
		webhook_verify zoom {
			secret ` + zoomOldSecret + `
			secret ` + zoomSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /twitch {
		webhook_verify twitch {
			secret ` + twitchSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /discord {
		webhook_verify discord {
			public_key @DISCORD_KEY@
		}
		reverse_proxy {{.Backend}}
	}
	handle /dropbox {
		webhook_verify dropbox {
			secret ` + dropboxSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /facebook {
		webhook_verify facebook {
			secret ` + facebookSecret + `
			verify_token ` + verifyToken + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /sns {
		webhook_verify sns {
			sns_host @SNS_HOST@
			topic_arn ` + snsTopic + `
			auto_confirm
		}
		reverse_proxy {{.Backend}}
	}
	handle /sns-manual {
		webhook_verify sns {
			sns_host @SNS_HOST@
			topic_arn ` + snsTopic + `
		}
		reverse_proxy {{.Backend}}
	}
}`

// answer is what the gateway sent back.
type answer struct {
	Status int
	Body   string
	Header http.Header
}

func send(t *testing.T, method, url string, h http.Header, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// sendTwice sends a request twice, as a provider retrying a handshake
// does, and checks the second answer is the first: handshakes are never
// deduplicated or refused as replays.
func sendTwice(t *testing.T, method, url string, h http.Header, body []byte) answer {
	t.Helper()
	first := send(t, method, url, h, body)
	second := send(t, method, url, h, body)
	if first.Status != second.Status || first.Body != second.Body {
		t.Errorf("the same handshake answered %d %q, then %d %q", first.Status, first.Body, second.Status, second.Body)
	}
	return first
}

// sign signs with the provider's scheme as the provider would.
func sign(t *testing.T, provider, secret, url string, body []byte, h http.Header) http.Header {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	signed, _, err := verify.Sign(provider, verify.Options{Secrets: []string{secret}}, verify.SignRequest{URL: url, Body: body, Header: h})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func wantAnswer(t *testing.T, what string, got answer, status int, contentType, body string) {
	t.Helper()
	if got.Status != status || got.Body != body {
		t.Errorf("%s: got %d %q, want %d %q", what, got.Status, got.Body, status, body)
	}
	if ct := got.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("%s: Content-Type %q, want %q", what, ct, contentType)
	}
}

func wantUnauthorized(t *testing.T, what string, got answer) {
	t.Helper()
	if got.Status != http.StatusUnauthorized || strings.TrimSpace(got.Body) != `{"error":"invalid_signature"}` {
		t.Errorf("%s: got %d %q, want 401 invalid_signature", what, got.Status, got.Body)
	}
}

func TestHandshakesThroughCaddy(t *testing.T) {
	sns := newSNSFixture(t)
	discordPub, discordKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	be := newBackend(t)
	cfg := strings.NewReplacer("@SNS_HOST@", sns.hostPattern(), "@DISCORD_KEY@", hex.EncodeToString(discordPub)).Replace(handshakeConfig)
	g := newGateway(t, cfg, gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"SSL_CERT_FILE=" + sns.caFile}
	g.Start()

	// controls are ordinary events, one per route: they prove the route
	// passes on what is not a handshake.
	var controls [][]byte
	control := func(t *testing.T, path string, h http.Header, body []byte) {
		t.Helper()
		if got := send(t, http.MethodPost, g.URL(path), h, body); got.Status != http.StatusOK || !strings.Contains(got.Body, "backend says") {
			t.Errorf("an ordinary %s event: %d %q, want the backend's 200", path, got.Status, got.Body)
		}
		controls = append(controls, body)
	}

	t.Run("slack url_verification", func(t *testing.T) {
		body := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
		got := sendTwice(t, http.MethodPost, g.URL("/slack"), sign(t, "slack", slackSecret, "", body, nil), body)
		wantAnswer(t, "url_verification", got, 200, "application/json",
			`{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`)
		wantUnauthorized(t, "unsigned url_verification", send(t, http.MethodPost, g.URL("/slack"), nil, body))
		wantUnauthorized(t, "url_verification signed with another secret",
			send(t, http.MethodPost, g.URL("/slack"), sign(t, "slack", "not-the-secret", "", body, nil), body))

		event := []byte(`{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"url_verification"}}`)
		control(t, "/slack", sign(t, "slack", slackSecret, "", event, nil), event)
	})

	t.Run("zoom endpoint.url_validation", func(t *testing.T) {
		body := []byte(`{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
		got := sendTwice(t, http.MethodPost, g.URL("/zoom"), sign(t, "zoom", zoomSecret, "", body, nil), body)
		// The independent vector: HMAC-SHA256("test_secret", plainToken).
		wantAnswer(t, "url_validation", got, 200, "application/json",
			`{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"af2b71c039092798acffde4bc073be46286db03f4d82bfac9008822d0fac2449"}`)

		// During a rotation the answer is keyed by the secret that signed.
		m := hmac.New(sha256.New, []byte(zoomOldSecret))
		m.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))
		got = send(t, http.MethodPost, g.URL("/zoom"), sign(t, "zoom", zoomOldSecret, "", body, nil), body)
		wantAnswer(t, "url_validation signed with the older secret", got, 200, "application/json",
			`{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"`+hex.EncodeToString(m.Sum(nil))+`"}`)

		wantUnauthorized(t, "unsigned url_validation", send(t, http.MethodPost, g.URL("/zoom"), nil, body))
		wantUnauthorized(t, "url_validation signed with another secret",
			send(t, http.MethodPost, g.URL("/zoom"), sign(t, "zoom", "not-the-secret", "", body, nil), body))

		event := []byte(`{"event":"meeting.started","event_ts":1654503849681,"payload":{"object":{"id":"85712345"}}}`)
		control(t, "/zoom", sign(t, "zoom", zoomSecret, "", event, nil), event)
	})

	t.Run("twitch webhook_callback_verification", func(t *testing.T) {
		body := []byte(`{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1"}}`)
		header := func(msgType string) http.Header {
			return http.Header{"Twitch-Eventsub-Message-Type": {msgType}, "Twitch-Eventsub-Subscription-Type": {"channel.follow"}}
		}
		h := sign(t, "twitch", twitchSecret, "", body, header("webhook_callback_verification"))
		got := sendTwice(t, http.MethodPost, g.URL("/twitch"), h, body)
		wantAnswer(t, "callback verification", got, 200, "text/plain; charset=utf-8", "pogchamp-kappa-360noscope-vohiyo")

		wantUnauthorized(t, "unsigned callback verification", send(t, http.MethodPost, g.URL("/twitch"), header("webhook_callback_verification"), body))
		wantUnauthorized(t, "callback verification signed with another secret",
			send(t, http.MethodPost, g.URL("/twitch"), sign(t, "twitch", "not-the-secret", "", body, header("webhook_callback_verification")), body))

		event := []byte(`{"subscription":{"type":"channel.follow"},"event":{"user_id":"1234","challenge":"not-a-handshake"}}`)
		control(t, "/twitch", sign(t, "twitch", twitchSecret, "", event, header("notification")), event)
	})

	t.Run("discord PING", func(t *testing.T) {
		signDiscord := func(key ed25519.PrivateKey, body []byte) http.Header {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			return http.Header{
				"Content-Type":          {"application/json"},
				"X-Signature-Timestamp": {ts},
				"X-Signature-Ed25519":   {hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), body...)))},
			}
		}
		ping := []byte(`{"id":"1160367297930797116","application_id":"1160366734036713542","type":1,"version":1,"token":"aW50ZXJhY3Rpb24"}`)
		got := sendTwice(t, http.MethodPost, g.URL("/discord"), signDiscord(discordKey, ping), ping)
		wantAnswer(t, "interactions PING", got, 200, "application/json", `{"type":1}`)

		webhookPing := []byte(`{"version":1,"application_id":"1160366734036713542","type":0}`)
		got = send(t, http.MethodPost, g.URL("/discord"), signDiscord(discordKey, webhookPing), webhookPing)
		wantAnswer(t, "Webhook Events PING", got, http.StatusNoContent, "", "")

		_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
		wantUnauthorized(t, "unsigned PING", send(t, http.MethodPost, g.URL("/discord"), nil, ping))
		wantUnauthorized(t, "PING signed by another key", send(t, http.MethodPost, g.URL("/discord"), signDiscord(otherKey, ping), ping))

		command := []byte(`{"id":"1160367297930797117","application_id":"1160366734036713542","type":2,"data":{"name":"ping"}}`)
		control(t, "/discord", signDiscord(discordKey, command), command)
	})

	t.Run("dropbox GET challenge", func(t *testing.T) {
		challenge := `<script>alert(1)</script>`
		got := sendTwice(t, http.MethodGet, g.URL("/dropbox?challenge="+url.QueryEscape(challenge)), nil, nil)
		wantAnswer(t, "challenge", got, 200, "text/plain; charset=utf-8", challenge)
		if got.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("the echoed challenge lacks X-Content-Type-Options: nosniff: %v", got.Header)
		}
		if got := send(t, http.MethodGet, g.URL("/dropbox"), nil, nil); got.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET without a challenge: %d %q, want 405", got.Status, got.Body)
		}

		event := []byte(`{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},"delta":{"users":[12345678]}}`)
		wantUnauthorized(t, "unsigned notification", send(t, http.MethodPost, g.URL("/dropbox"), nil, event))
		control(t, "/dropbox", sign(t, "dropbox", dropboxSecret, "", event, nil), event)
	})

	t.Run("facebook GET hub.challenge", func(t *testing.T) {
		query := func(token string) string {
			return "/facebook?" + url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}.Encode()
		}
		got := sendTwice(t, http.MethodGet, g.URL(query(verifyToken)), nil, nil)
		wantAnswer(t, "subscription verification", got, 200, "text/plain; charset=utf-8", "1158201444")

		got = send(t, http.MethodGet, g.URL(query("not-the-token")), nil, nil)
		if got.Status != http.StatusForbidden || strings.TrimSpace(got.Body) != `{"error":"invalid_verify_token"}` {
			t.Errorf("a wrong verify token: %d %q, want 403 invalid_verify_token, without the challenge", got.Status, got.Body)
		}

		event := []byte(`{"object":"page","entry":[{"id":"0","time":1714000000,"changes":[{"field":"feed"}]}]}`)
		control(t, "/facebook", sign(t, "facebook", facebookSecret, "", event, nil), event)
	})

	t.Run("sns SubscriptionConfirmation", func(t *testing.T) {
		confirm := sns.message("SubscriptionConfirmation", snsTopic, "auto-token-1")
		got := sendTwice(t, http.MethodPost, g.URL("/sns"), snsHeader(confirm), confirm.signed(t, sns.key))
		wantAnswer(t, "SubscriptionConfirmation", got, 200, "application/json", `{"status":"handshake"}`)
		eventually(t, 10*time.Second, "the gateway to GET the SubscribeURL", func() bool {
			return slices.Contains(sns.confirmedTokens(), "auto-token-1")
		})

		unsigned := *confirm
		unsigned.Signature = ""
		wantUnauthorized(t, "unsigned SubscriptionConfirmation", send(t, http.MethodPost, g.URL("/sns"), snsHeader(confirm), unsigned.marshal(t)))
		otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		wantUnauthorized(t, "SubscriptionConfirmation signed by another key",
			send(t, http.MethodPost, g.URL("/sns"), snsHeader(confirm), sns.message("SubscriptionConfirmation", snsTopic, "forged-token").signed(t, otherKey)))
		foreign := sns.message("SubscriptionConfirmation", "arn:aws:sns:us-east-1:999999999999:theirs", "foreign-token")
		wantUnauthorized(t, "SubscriptionConfirmation of a foreign topic", send(t, http.MethodPost, g.URL("/sns"), snsHeader(foreign), foreign.signed(t, sns.key)))

		unsubscribe := sns.message("UnsubscribeConfirmation", snsTopic, "unsub-token")
		got = send(t, http.MethodPost, g.URL("/sns"), snsHeader(unsubscribe), unsubscribe.signed(t, sns.key))
		wantAnswer(t, "UnsubscribeConfirmation", got, 200, "application/json", `{"status":"handshake"}`)
		if !g.logged("UnsubscribeConfirmation") {
			t.Errorf("the UnsubscribeConfirmation is not logged:\n%s", g.logs)
		}

		// Without auto_confirm the URL is logged for an operator to visit.
		manual := sns.message("SubscriptionConfirmation", snsTopic, "manual-token")
		got = send(t, http.MethodPost, g.URL("/sns-manual"), snsHeader(manual), manual.signed(t, sns.key))
		wantAnswer(t, "SubscriptionConfirmation without auto_confirm", got, 200, "application/json", `{"status":"handshake"}`)
		if !g.logged("awaits confirmation", "Token=manual-token") {
			t.Errorf("the SubscribeURL to visit is not logged:\n%s", g.logs)
		}

		// A SubscribeURL that is not https is answered but never fetched.
		plain := sns.message("SubscriptionConfirmation", snsTopic, "plain-http-token")
		plain.SubscribeURL = strings.Replace(plain.SubscribeURL, "https://", "http://", 1)
		got = send(t, http.MethodPost, g.URL("/sns"), snsHeader(plain), plain.signed(t, sns.key))
		wantAnswer(t, "SubscriptionConfirmation with an http SubscribeURL", got, 200, "application/json", `{"status":"handshake"}`)
		if !g.logged("SubscribeURL refused") {
			t.Errorf("the refused SubscribeURL is not logged:\n%s", g.logs)
		}

		notification := sns.message("Notification", snsTopic, "")
		control(t, "/sns", snsHeader(notification), notification.signed(t, sns.key))

		// The answers above were sent synchronously; a stray confirmation
		// would have been started by now. Wait for the auto ones to land.
		eventually(t, 10*time.Second, "both auto confirmations", func() bool {
			return len(sns.confirmedTokens()) >= 2
		})
		for _, tok := range sns.confirmedTokens() {
			if tok != "auto-token-1" {
				t.Errorf("the gateway fetched the SubscribeURL with Token=%s; only auto-token-1 may be confirmed", tok)
			}
		}
	})

	reqs := be.Requests()
	if len(reqs) != len(controls) {
		t.Errorf("backend got %d requests, want only the %d ordinary events", len(reqs), len(controls))
	}
	for _, r := range reqs {
		if !slices.ContainsFunc(controls, func(c []byte) bool { return bytes.Equal(c, r.Body) }) {
			t.Errorf("a handshake reached the backend: %s %s %s", r.Method, r.Path, r.Body)
		}
	}

	m := g.metrics()
	for provider, want := range map[string]float64{
		"slack": 2, "zoom": 3, "twitch": 2, "discord": 3, "dropbox": 2, "facebook": 2, "sns": 5,
	} {
		if got := metricValue(m, "caddy_webhook_requests_total", `outcome="handshake"`, `provider="`+provider+`"`); got != want {
			t.Errorf("requests_total{provider=%q,outcome=handshake} = %v, want %v", provider, got, want)
		}
	}
	// A wrong verify token is a rejection, counted where alerts on forged
	// requests look.
	if got := metricValue(m, "caddy_webhook_requests_total", `outcome="invalid_signature"`, `provider="facebook"`); got != 1 {
		t.Errorf("requests_total{provider=facebook,outcome=invalid_signature} = %v, want 1 (the wrong verify token)", got)
	}
	if !g.logged("webhook rejected", "invalid_verify_token") {
		t.Errorf("the wrong verify token is not logged as a rejection:\n%s", g.logs)
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}

// snsFixture is a local HTTPS server standing in for SNS: it serves the
// signing certificate and records the SubscribeURL fetches.
type snsFixture struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	certURL string
	caFile  string // PEM of srv's certificate, for SSL_CERT_FILE
	// redirectURL is as well shaped as certURL, but redirects to plain, an
	// http server on another port that serves the certificate too.
	redirectURL string
	plain       *httptest.Server

	mu        sync.Mutex
	confirmed []string // Token of each SubscribeURL fetched
	messages  int      // makes MessageIds unique
	certGets  int      // GETs of certURL
	plainGets int      // GETs of plain
}

const (
	snsCertPath     = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
	snsRedirectPath = "/SimpleNotificationService-fedcba9876543210fedcba9876543210.pem"
	// snsUnavailablePath is well shaped; the publisher answers it 503.
	snsUnavailablePath = "/SimpleNotificationService-00000000000000000000000000000503.pem"
)

func newSNSFixture(t *testing.T) *snsFixture {
	t.Helper()
	f := &snsFixture{}
	var err error
	if f.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.key.PublicKey, f.key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	f.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.plainGets++
		f.mu.Unlock()
		_, _ = w.Write(certPEM)
	}))
	t.Cleanup(f.plain.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+snsCertPath, func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.certGets++
		f.mu.Unlock()
		_, _ = w.Write(certPEM)
	})
	mux.HandleFunc("GET "+snsUnavailablePath, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET "+snsRedirectPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.plain.URL+"/a.pem", http.StatusFound)
	})
	mux.HandleFunc("GET /confirm", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.confirmed = append(f.confirmed, r.URL.Query().Get("Token"))
		f.mu.Unlock()
		_, _ = w.Write([]byte(`<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>` +
			snsTopic + `:1</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>`))
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	f.certURL = f.srv.URL + snsCertPath
	f.redirectURL = f.srv.URL + snsRedirectPath

	f.caFile = filepath.Join(t.TempDir(), "sns-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// hostPattern is the sns_host regexp of the server's host:port.
func (f *snsFixture) hostPattern() string {
	return regexp.QuoteMeta(strings.TrimPrefix(f.srv.URL, "https://"))
}

// gets is how many times the certificate was fetched, from srv and from
// plain.
func (f *snsFixture) gets() (cert, plain int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.certGets, f.plainGets
}

func (f *snsFixture) confirmedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.confirmed...)
}

// snsMessage is an SNS HTTP(S) message, fields in the order SNS sends them.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string `json:",omitempty"`
	TopicArn         string
	Subject          string `json:",omitempty"`
	Message          string
	SubscribeURL     string `json:",omitempty"`
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
}

func (f *snsFixture) message(typ, topic, token string) *snsMessage {
	f.mu.Lock()
	f.messages++
	n := f.messages
	f.mu.Unlock()
	m := &snsMessage{
		Type: typ, MessageID: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b-" + strconv.Itoa(n),
		TopicArn: topic, Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		SignatureVersion: "2", SigningCertURL: f.certURL,
		Message: `{"order":1}`,
	}
	if typ != "Notification" {
		m.Token = token
		m.SubscribeURL = f.srv.URL + "/confirm?" + url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {topic}, "Token": {token}}.Encode()
		m.Message = "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."
	}
	return m
}

// signed signs m as SNS does (SignatureVersion 2: SHA256withRSA over the
// canonical "Key\nValue\n" string) and returns the body.
func (m *snsMessage) signed(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	var fields [][2]string
	if m.Type == "Notification" {
		fields = [][2]string{{"Message", m.Message}, {"MessageId", m.MessageID}, {"Timestamp", m.Timestamp}, {"TopicArn", m.TopicArn}, {"Type", m.Type}}
	} else {
		fields = [][2]string{{"Message", m.Message}, {"MessageId", m.MessageID}, {"SubscribeURL", m.SubscribeURL},
			{"Timestamp", m.Timestamp}, {"Token", m.Token}, {"TopicArn", m.TopicArn}, {"Type", m.Type}}
	}
	var canonical strings.Builder
	for _, f := range fields {
		canonical.WriteString(f[0] + "\n" + f[1] + "\n")
	}
	sum := sha256.Sum256([]byte(canonical.String()))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	return m.marshal(t)
}

func (m *snsMessage) marshal(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // SNS sends & in SubscribeURL as is
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func snsHeader(m *snsMessage) http.Header {
	return http.Header{
		"Content-Type":           {"text/plain; charset=UTF-8"},
		"X-Amz-Sns-Message-Type": {m.Type},
		"X-Amz-Sns-Message-Id":   {m.MessageID},
		"X-Amz-Sns-Topic-Arn":    {m.TopicArn},
		"User-Agent":             {"Amazon Simple Notification Service Agent"},
	}
}
