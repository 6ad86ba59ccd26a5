package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
)

// HandshakeAnswer is the reply to a provider's handshake, sent by the edge
// itself: handshakes are never deduplicated, queued or forwarded.
type HandshakeAnswer struct {
	Status      int
	ContentType string // "" when there is no body
	Body        []byte
	Header      http.Header // extra response headers, nil when none

	// ConfirmURL is, for an SNS SubscriptionConfirmation, the SubscribeURL
	// to GET when auto-confirm is on; "" when the URL is not https on an
	// allowed host (see ValidSNSConfirmURL).
	ConfirmURL string
	// Note is for the log: the SNS message Type, or why a Facebook
	// verification was refused.
	Note string
}

// handshake is how one provider shakes hands. post handshakes are signed
// and only looked for once Verify succeeded; get handshakes carry no
// signature.
type handshake struct {
	post func(c *handshakeConfig, r *Request) (*HandshakeAnswer, bool)
	get  func(c *handshakeConfig, r *Request, verifyToken string) (*HandshakeAnswer, bool)
	// keyed: the answer is computed with a configured secret (the one that
	// signed the request, for post handshakes).
	keyed bool
}

// handshakes is kept apart from the presets table: a provider without an
// entry has no handshake.
var handshakes = map[string]handshake{
	"slack":     {post: slackURLVerification},
	"zoom":      {post: zoomURLValidation, keyed: true},
	"twitch":    {post: twitchCallbackVerification},
	"discord":   {post: discordPing},
	"sns":       {post: snsConfirmation},
	"dropbox":   {get: dropboxChallenge},
	"facebook":  {get: facebookVerification},
	"instagram": {get: facebookVerification},
	"whatsapp":  {get: facebookVerification},
	"threads":   {get: facebookVerification},
	"x":         {get: xCRC, keyed: true},
	"youtube":   {get: websubChallenge},
	"braintree": {get: braintreeChallenge, keyed: true},
}

// handshakeConfig is a Verifier's handshake and what answering it needs.
type handshakeConfig struct {
	handshake
	keys    []secretScheme // keyed handshakes: one scheme per secret
	keyID   string         // keyed handshakes: the configured key id (Braintree's public key)
	snsHost *regexp.Regexp // nil: defaultSNSHost
}

type secretScheme struct {
	secret string
	scheme scheme
}

func newHandshakeConfig(p *preset, o Options) (handshakeConfig, error) {
	c := handshakeConfig{handshake: handshakes[p.Name]}
	if o.SNSHost != "" {
		if p.Name != "sns" {
			return c, errors.New("`sns_host` applies to provider sns only")
		}
		re, err := snsHostPattern(o.SNSHost)
		if err != nil {
			return c, err
		}
		c.snsHost = re
	}
	if c.keyed {
		c.keyID = o.KeyID
		for _, secret := range o.Secrets {
			s, _, err := p.build(Options{Secrets: []string{secret}, KeyID: o.KeyID})
			if err != nil {
				return c, err
			}
			c.keys = append(c.keys, secretScheme{secret: secret, scheme: s})
		}
	}
	return c, nil
}

// Handshake reports whether r, a POST that Verify accepted, is the
// provider's handshake, and the answer to send instead of passing it on.
func (v *Verifier) Handshake(r *Request) (*HandshakeAnswer, bool) {
	if v.handshake.post == nil {
		return nil, false
	}
	return v.handshake.post(&v.handshake, r)
}

// HandshakeGET reports whether r is the provider's unsigned GET handshake
// (Dropbox, the Meta family, X's CRC, WebSub's intent), and the answer.
// verifyToken is the configured verify token (Meta's, WebSub's). Call it before refusing methods other than
// POST.
func (v *Verifier) HandshakeGET(r *Request, verifyToken string) (*HandshakeAnswer, bool) {
	if v.handshake.get == nil || r.Method != http.MethodGet {
		return nil, false
	}
	return v.handshake.get(&v.handshake, r, verifyToken)
}

// signingSecret finds the secret whose signature r carries. Requiring one
// keeps the handshake from being an HMAC oracle should it be asked about
// a request that was not verified.
func (c *handshakeConfig) signingSecret(r *Request) (string, bool) {
	for _, k := range c.keys {
		if _, _, err := k.scheme.check(r, r.Now); err == nil {
			return k.secret, true
		}
	}
	return "", false
}

// Most requests are events, not handshakes: a marker absent from the body
// spares the JSON parse.

func slackURLVerification(_ *handshakeConfig, r *Request) (*HandshakeAnswer, bool) {
	if !bytes.Contains(r.Body, []byte("url_verification")) {
		return nil, false
	}
	challenge, ok := JSONField(r.Body, "challenge")
	if typ, _ := JSONField(r.Body, "type"); typ != "url_verification" || !ok || challenge == "" {
		return nil, false
	}
	return jsonAnswer(http.StatusOK, struct {
		Challenge string `json:"challenge"`
	}{challenge}), true
}

func zoomURLValidation(c *handshakeConfig, r *Request) (*HandshakeAnswer, bool) {
	if !bytes.Contains(r.Body, []byte("endpoint.url_validation")) {
		return nil, false
	}
	plain, ok := JSONField(r.Body, "payload.plainToken")
	if event, _ := JSONField(r.Body, "event"); event != "endpoint.url_validation" || !ok || plain == "" {
		return nil, false
	}
	secret, ok := c.signingSecret(r)
	if !ok {
		return nil, false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(plain))
	return jsonAnswer(http.StatusOK, struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}{plain, hex.EncodeToString(m.Sum(nil))}), true
}

var twitchMessageType = textproto.CanonicalMIMEHeaderKey("Twitch-Eventsub-Message-Type")

func twitchCallbackVerification(_ *handshakeConfig, r *Request) (*HandshakeAnswer, bool) {
	if headerValue(r.Header, twitchMessageType) != "webhook_callback_verification" {
		return nil, false
	}
	challenge, ok := JSONField(r.Body, "challenge")
	if !ok || challenge == "" {
		return nil, false
	}
	return textAnswer(http.StatusOK, challenge), true
}

// discordPing answers both Discord PINGs: an interaction of type 1 (which
// wants {"type":1}) and a Webhook Event of type 0 (which wants 204). A
// Webhook Event of type 1 is a real event and carries "event".
func discordPing(_ *handshakeConfig, r *Request) (*HandshakeAnswer, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Body, &m) != nil {
		return nil, false
	}
	switch string(m["type"]) {
	case "0":
		return &HandshakeAnswer{Status: http.StatusNoContent}, true
	case "1":
		if _, isEvent := m["event"]; isEvent {
			return nil, false
		}
		return jsonAnswer(http.StatusOK, struct {
			Type int `json:"type"`
		}{1}), true
	}
	return nil, false
}

// snsConfirmation reads the body's Type, which SNS signs, rather than the
// unsigned x-amz-sns-message-type header.
func snsConfirmation(c *handshakeConfig, r *Request) (*HandshakeAnswer, bool) {
	if !bytes.Contains(r.Body, []byte("Confirmation")) {
		return nil, false
	}
	typ, _ := JSONField(r.Body, "Type")
	switch typ {
	case "SubscriptionConfirmation":
		a := snsAck(typ)
		if u, _ := JSONField(r.Body, "SubscribeURL"); ValidSNSConfirmURL(u, c.snsHost) {
			a.ConfirmURL = u
		}
		return a, true
	case "UnsubscribeConfirmation":
		return snsAck(typ), true
	}
	return nil, false
}

func snsAck(typ string) *HandshakeAnswer {
	a := jsonAnswer(http.StatusOK, struct {
		Status string `json:"status"`
	}{"handshake"})
	a.Note = typ
	return a
}

// defaultSNSHost is the host of every AWS SNS endpoint: sns.<region>.
// amazonaws.com, and .amazonaws.com.cn for China's cn-* regions. The
// region's shape (us-east-1, us-gov-west-1) keeps out other services' hosts
// that users name, such as sns.s3-us-west-2.amazonaws.com, the S3 bucket
// "sns".
var defaultSNSHost = regexp.MustCompile(`^sns\.(?:[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com|cn(?:-[a-z]+)+-[0-9]+\.amazonaws\.com\.cn)$`)

// snsHostPattern compiles the `sns_host` option, anchored so that a
// pattern such as "localhost" cannot match "localhost.attacker.example".
func snsHostPattern(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("`sns_host` is not a valid regexp: %w", err)
	}
	return re, nil
}

// ValidSNSConfirmURL reports whether u is safe to GET as an SNS
// SubscribeURL: https, no credentials, and a host (with its port, if any)
// that hostPattern matches; nil means sns.<region>.amazonaws.com[.cn].
func ValidSNSConfirmURL(u string, hostPattern *regexp.Regexp) bool {
	if hostPattern == nil {
		hostPattern = defaultSNSHost
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.User != nil || p.Opaque != "" {
		return false
	}
	return hostPattern.MatchString(p.Host)
}

func dropboxChallenge(_ *handshakeConfig, r *Request, _ string) (*HandshakeAnswer, bool) {
	q, ok := query(r.URL)
	if !ok || q.Get("challenge") == "" {
		return nil, false
	}
	return textAnswer(http.StatusOK, q.Get("challenge")), true
}

// facebookVerification answers Meta's subscription check: the challenge
// when hub.verify_token is the configured token, else 403. An empty
// configured token matches nothing.
func facebookVerification(_ *handshakeConfig, r *Request, verifyToken string) (*HandshakeAnswer, bool) {
	q, ok := query(r.URL)
	if !ok || q.Get("hub.mode") != "subscribe" || q.Get("hub.challenge") == "" {
		return nil, false
	}
	if verifyToken == "" {
		return refuseVerifyToken("no verify token is configured")
	}
	if !matchDigest([][sha256.Size]byte{sha256.Sum256([]byte(verifyToken))}, q.Get("hub.verify_token")) {
		return refuseVerifyToken("hub.verify_token does not match the configured verify token")
	}
	return textAnswer(http.StatusOK, q.Get("hub.challenge")), true
}

// websubChallenge answers a WebSub hub's verification of intent (YouTube's
// push notifications): GET ?hub.mode=subscribe|unsubscribe&hub.topic=&
// hub.challenge= is answered with the challenge. With a verify token
// configured, hub.verify_token (which PubSubHubbub 0.3 hubs such as
// YouTube's pass back) must be it, so that only subscriptions made with it
// are confirmed; without one, any is: its notifications are still signed
// with the secret given at subscription, which this route checks.
func websubChallenge(_ *handshakeConfig, r *Request, verifyToken string) (*HandshakeAnswer, bool) {
	q, ok := query(r.URL)
	if mode := q.Get("hub.mode"); !ok || mode != "subscribe" && mode != "unsubscribe" || q.Get("hub.topic") == "" || q.Get("hub.challenge") == "" {
		return nil, false
	}
	if verifyToken != "" && !matchDigest([][sha256.Size]byte{sha256.Sum256([]byte(verifyToken))}, q.Get("hub.verify_token")) {
		return refuseVerifyToken("hub.verify_token does not match the configured verify token")
	}
	return textAnswer(http.StatusOK, q.Get("hub.challenge")), true
}

// refuseVerifyToken is the answer to a subscription check that does not
// carry the configured verify token.
func refuseVerifyToken(note string) (*HandshakeAnswer, bool) {
	a := jsonAnswer(http.StatusForbidden, struct {
		Error string `json:"error"`
	}{"invalid_verify_token"})
	a.Note = note
	return a, true
}

func query(rawURL string) (url.Values, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, false
	}
	q, err := url.ParseQuery(u.RawQuery)
	return q, err == nil
}

func jsonAnswer(status int, v any) *HandshakeAnswer {
	body, _ := json.Marshal(v) // string and int fields only: cannot fail
	return &HandshakeAnswer{Status: status, ContentType: "application/json", Body: body}
}

// textAnswer echoes a challenge; nosniff keeps a browser from reading the
// echoed text as HTML.
func textAnswer(status int, s string) *HandshakeAnswer {
	return &HandshakeAnswer{
		Status: status, ContentType: "text/plain; charset=utf-8", Body: []byte(s),
		Header: http.Header{"X-Content-Type-Options": {"nosniff"}},
	}
}
