package verify

import (
	"fmt"
	"strings"
	"time"
)

// kind is a scheme family. Every provider is a row in presets; only the
// families below have code.
type kind int

const (
	kindHMAC       kind = iota // HMAC over a signed-content template
	kindHash                   // plain hash over a template that holds {secret}
	kindEd25519                // ed25519 over a template, hex public key
	kindECDSA                  // ECDSA P-256 SHA-256 over a template, SPKI key
	kindRSA                    // RSA PKCS#1 v1.5 over a template, SPKI/PEM key
	kindJWT                    // HS256 JWT whose claim sha256 hashes the body
	kindTwilio                 // HMAC over the URL plus sorted form params
	kindContentful             // HMAC over a canonical request
	kindToken                  // shared token in a header or query parameter
	kindBasic                  // HTTP basic auth
)

// keyFormat says how a configured secret becomes HMAC key bytes.
type keyFormat int

const (
	keyRaw   keyFormat = iota // the secret's bytes
	keyWhsec                  // base64-decode the secret minus "whsec_"
)

// preset is one provider. A new provider is a few lines in presets.
type preset struct {
	Name   string
	Source string // where the scheme is documented
	Kind   kind

	Header    string // signature header
	Prefix    string // before each signature: "sha256=", "v0=", "v1,"
	List      listFormat
	Algorithm string // sha1|sha256|sha512
	Encoding  string // hex|base64|base64url
	Signed    string // signed-content template
	Key       keyFormat

	TimestampHeader string
	TimestampFormat string
	Tolerance       time.Duration // documented window; 0 when none

	IDHeaders []string // first present one is the event id
	IDFields  []string // else these JSON body paths, joined by ":"

	Query string   // token query parameter
	Takes []string // Options fields users may set, by subdirective name
}

// Subdirective names of the Options scheme fields.
const (
	optHeader          = "header"
	optQuery           = "query"
	optAlgorithm       = "algorithm"
	optEncoding        = "encoding"
	optPrefix          = "prefix"
	optSigned          = "signed"
	optTimestampHeader = "timestamp_header"
	optTimestampFormat = "timestamp_format"
	optIDHeader        = "id_header"
)

var genericHMAC = []string{optHeader, optAlgorithm, optEncoding, optPrefix, optSigned,
	optTimestampHeader, optTimestampFormat, optIDHeader}

const minute = time.Minute

var presets = []preset{
	{
		Name:   "standard",
		Source: "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
		Kind:   kindHMAC, Header: "webhook-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "webhook-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders: []string{"webhook-id"},
	},
	{
		Name:   "svix",
		Source: "https://docs.svix.com/receiving/verifying-payloads/how-manual",
		Kind:   kindHMAC, Header: "svix-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "svix-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders: []string{"svix-id"},
	},
	{
		Name:   "stripe",
		Source: "https://docs.stripe.com/webhooks#verify-manually",
		Kind:   kindHMAC, Header: "Stripe-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 300 * time.Second,
		IDFields: []string{"id"},
	},
	{
		Name:   "github",
		Source: "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
		Kind:   kindHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDHeaders: []string{"X-GitHub-Delivery"},
	},
	{
		// event_id exists for Events API JSON; slash commands and
		// interactivity are form posts without one.
		Name:   "slack",
		Source: "https://docs.slack.dev/authentication/verifying-requests-from-slack",
		Kind:   kindHMAC, Header: "X-Slack-Signature", Prefix: "v0=",
		Algorithm: "sha256", Encoding: "hex", Signed: "v0:{timestamp}:{body}",
		TimestampHeader: "X-Slack-Request-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields: []string{"event_id"},
	},
	{
		// Event-Id is the same across subscriptions; Webhook-Id (per
		// delivery) is the fallback for older API versions.
		Name:   "shopify",
		Source: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify",
		Kind:   kindHMAC, Header: "X-Shopify-Hmac-Sha256",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		IDHeaders: []string{"X-Shopify-Event-Id", "X-Shopify-Webhook-Id"},
	},
	{
		Name:   "twilio",
		Source: "https://www.twilio.com/docs/usage/webhooks/webhooks-security; twilio-node lib/webhooks/webhooks.ts",
		Kind:   kindTwilio, Header: "X-Twilio-Signature", Algorithm: "sha1", Encoding: "base64",
		IDHeaders: []string{"I-Twilio-Idempotency-Token"},
	},
	{
		// The SDK only rejects old timestamps; we also reject future ones.
		Name:   "mux",
		Source: "https://www.mux.com/docs/core/verify-webhook-signatures; mux-node-sdk src/resources/webhooks.ts",
		Kind:   kindHMAC, Header: "Mux-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 300 * time.Second,
		IDFields: []string{"id"},
	},
	{
		// Not an HMAC: a plain hash with the secret appended. SHA-1 unless
		// the account signs with SHA-256 (`algorithm sha256`). 7200 s is the
		// SDK's default valid_for. Cloudinary has no event id.
		Name:   "cloudinary",
		Source: "https://cloudinary.com/documentation/notifications#verifying_notification_signatures; cloudinary_npm lib/utils/index.js",
		Kind:   kindHash, Header: "X-Cld-Signature",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}{timestamp}{secret}",
		TimestampHeader: "X-Cld-Timestamp", TimestampFormat: "unix", Tolerance: 7200 * time.Second,
		Takes: []string{optAlgorithm},
	},
	{
		// The SDK's default TTL is 30 s. No event id is sent; dedupe on
		// the body or `dedupe json sys.id`.
		Name:   "contentful",
		Source: "https://www.contentful.com/developers/docs/webhooks/request-verification/; node-apps-toolkit src/requests/sign-request.ts",
		Kind:   kindContentful, Header: "x-contentful-signature", Algorithm: "sha256", Encoding: "hex",
		TimestampHeader: "x-contentful-timestamp", TimestampFormat: "unix_ms", Tolerance: 30 * time.Second,
	},
	{
		// The window is the JWT's nbf/exp (LiveKit signs for 5 min); the
		// tolerance also bounds the token's age from nbf so that a nonce
		// outlives every token it guards.
		Name:   "livekit",
		Source: "https://docs.livekit.io/home/server/webhooks/; livekit/protocol webhook/verifier.go",
		Kind:   kindJWT, Header: "Authorization", Tolerance: 5 * minute,
		IDFields: []string{"id"},
	},
	{
		// Discord mandates no window; 5 min matches the other timestamped
		// presets and tolerates ordinary clock skew.
		Name:   "discord",
		Source: "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
		Kind:   kindEd25519, Header: "X-Signature-Ed25519", Encoding: "hex", Signed: "{timestamp}{body}",
		TimestampHeader: "X-Signature-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields: []string{"id"},
	},
	{
		// SendGrid mandates no window; 10 min allows for its batching. The
		// body is an array of events (each with sg_event_id): no single id.
		Name:   "sendgrid",
		Source: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features; sendgrid-nodejs packages/eventwebhook",
		Kind:   kindECDSA, Header: "X-Twilio-Email-Event-Webhook-Signature", Encoding: "base64",
		Signed: "{timestamp}{body}", TimestampHeader: "X-Twilio-Email-Event-Webhook-Timestamp",
		TimestampFormat: "unix", Tolerance: 10 * minute,
	},
	{
		// Shotstack does not sign: a secret token in the callback URL
		// (`?token=`) or, with `header`, in a header. A render's callbacks
		// differ by type (edit, serve), hence the id "<id>:<type>".
		Name:   "shotstack",
		Source: "https://github.com/shotstack/documentation docs/architecting-an-application/webhooks.md",
		Kind:   kindToken, Query: "token",
		IDFields: []string{"id", "type"},
		Takes:    []string{optHeader, optQuery, optPrefix},
	},
	{
		Name:   "paddle",
		Source: "https://developer.paddle.com/webhooks/signature-verification; paddle-node-sdk src/notifications/helpers/webhooks-validator.ts",
		Kind:   kindHMAC, Header: "Paddle-Signature", List: kvList(';', "ts", "h1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}:{body}",
		TimestampFormat: "unix", Tolerance: 5 * time.Second,
		IDFields: []string{"event_id"},
	},
	{
		// Signs the notification URL: set `url` when TLS ends before Caddy.
		Name:   "square",
		Source: "https://developer.squareup.com/docs/webhooks/step3validate",
		Kind:   kindHMAC, Header: "x-square-hmacsha256-signature",
		Algorithm: "sha256", Encoding: "base64", Signed: "{url}{body}",
		IDFields: []string{"event_id"},
	},
	{
		Name:   "twitch",
		Source: "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
		Kind:   kindHMAC, Header: "Twitch-Eventsub-Message-Signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{id}{timestamp}{body}",
		TimestampHeader: "Twitch-Eventsub-Message-Timestamp", TimestampFormat: "rfc3339", Tolerance: 10 * minute,
		IDHeaders: []string{"Twitch-Eventsub-Message-Id"},
	},
	{
		Name:   "intercom",
		Source: "https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications",
		Kind:   kindHMAC, Header: "X-Hub-Signature", Prefix: "sha1=",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}",
		IDFields: []string{"id"},
	},
	{
		Name:   "typeform",
		Source: "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
		Kind:   kindHMAC, Header: "Typeform-Signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		IDFields: []string{"event_id"},
	},
	{
		// X-Api-Video-WebhookID names the subscription, not the event.
		Name:   "apivideo",
		Source: "https://docs.api.video/reference/create-and-manage-webhooks",
		Kind:   kindHMAC, Header: "X-Api-Video-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
	},
	{
		// Classic GitLab webhooks send the secret itself; Idempotency-Key
		// (GitLab >= 17.4) is stable across retries.
		Name:   "gitlab",
		Source: "https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token",
		Kind:   kindToken, Header: "X-Gitlab-Token",
		IDHeaders: []string{"Idempotency-Key", "X-Gitlab-Event-UUID"},
	},
	{
		Name: "hmac", Source: "generic: configured by the block",
		Kind: kindHMAC, Algorithm: "sha256", Encoding: "hex", Signed: "{body}", TimestampFormat: "unix",
		Tolerance: 5 * minute, // when a timestamp is configured
		Takes:     genericHMAC,
	},
	{
		Name: "rsa", Source: "generic: RSA PKCS#1 v1.5 (as AWS SNS uses), configured by the block",
		Kind: kindRSA, Algorithm: "sha256", Encoding: "base64", Signed: "{body}", TimestampFormat: "unix",
		Tolerance: 5 * minute, // when a timestamp is configured
		Takes:     genericHMAC,
	},
	{
		Name: "token", Source: "generic: a shared token compared in constant time",
		Kind:  kindToken,
		Takes: []string{optHeader, optQuery, optPrefix, optIDHeader},
	},
	{
		Name: "basic", Source: "RFC 7617; the secret is user:password",
		Kind: kindBasic, Header: "Authorization",
		Takes: []string{optIDHeader},
	},
}

func presetByName(name string) (preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return preset{}, false
}

// apply overlays the Options scheme fields the preset lets users set, and
// refuses the others so that a misplaced subdirective is not silently ignored.
func (p *preset) apply(o Options) error {
	fields := []struct {
		name string
		val  string
		dst  *string
	}{
		{optHeader, o.Header, &p.Header},
		{optQuery, o.Query, &p.Query},
		{optAlgorithm, o.Algorithm, &p.Algorithm},
		{optEncoding, o.Encoding, &p.Encoding},
		{optPrefix, o.Prefix, &p.Prefix},
		{optSigned, o.Signed, &p.Signed},
		{optTimestampHeader, o.TimestampHeader, &p.TimestampHeader},
		{optTimestampFormat, o.TimestampFormat, &p.TimestampFormat},
	}
	for _, f := range fields {
		if f.val == "" {
			continue
		}
		if !contains(p.Takes, f.name) {
			return fmt.Errorf("provider %s does not take `%s` (it takes: %s)", p.Name, f.name, takes(p.Takes))
		}
		*f.dst = f.val
	}
	if o.IDHeader != "" {
		if !contains(p.Takes, optIDHeader) {
			return fmt.Errorf("provider %s does not take `%s` (it takes: %s)", p.Name, optIDHeader, takes(p.Takes))
		}
		p.IDHeaders = []string{o.IDHeader}
	}
	// A header chosen for a token replaces the default query parameter.
	if p.Kind == kindToken && o.Header != "" && o.Query == "" {
		p.Query = ""
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func takes(list []string) string {
	if len(list) == 0 {
		return "only secret/public_key and tolerance"
	}
	return strings.Join(list, ", ")
}

// build compiles the preset into its scheme and says whether it signs a
// timestamp.
func (p *preset) build(o Options) (scheme, bool, error) {
	switch p.Kind {
	case kindHMAC, kindHash:
		s, err := newMACScheme(p, o.Secrets)
		if err != nil {
			return nil, false, err
		}
		return s, s.signsTimestamp(), nil
	case kindEd25519, kindECDSA, kindRSA:
		s, err := newAsymScheme(p, o.PublicKeys)
		if err != nil {
			return nil, false, err
		}
		return s, s.signsTimestamp(), nil
	case kindJWT:
		s, err := newJWTScheme(p, o.KeyID, o.Secrets)
		return s, true, err
	case kindTwilio:
		s, err := newTwilioScheme(p, o.Secrets)
		return s, false, err
	case kindContentful:
		s, err := newContentfulScheme(p, o.Secrets)
		return s, true, err
	case kindToken:
		s, err := newTokenScheme(p, o.Secrets)
		return s, false, err
	case kindBasic:
		s, err := newBasicScheme(o.Secrets)
		return s, false, err
	}
	return nil, false, fmt.Errorf("unhandled scheme kind %d", p.Kind)
}
