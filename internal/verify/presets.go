package verify

import (
	"fmt"
	"net/textproto"
	"slices"
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
	kindMailgun                // HMAC of timestamp+token, all in the JSON body
	kindJWTBody                // HS256 JWT whose claims equal the JSON body
	kindSNS                    // AWS SNS: RSA over the canonical message
	kindOIDC                   // Google-signed OIDC token (Pub/Sub push)
	kindNetlify                // HS256 JWS, iss netlify, claim sha256 = hex SHA-256 of the body
	kindFal                    // ed25519 from fal's key set over request id, user id, time, body hash
	kindPayPal                 // RSA SHA-256 (certificate by URL) over transmission, webhook id, CRC32
	kindPlaid                  // ES256 JWT, key by id from Plaid's API, claim request_body_sha256
	kindHygraph                // HMAC-SHA256 of JSON.stringify({Body, EnvironmentName, TimeStamp})
	kindBraintree              // HMAC-SHA1 (key: SHA-1 of the private key) of the form's bt_payload
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
	Proof  string // how the tests prove it (PresetDoc.Proof)
	Kind   kind

	Header    string // signature header
	Prefix    string // before each signature: "sha256=", "v0=", "v1,"
	List      listFormat
	Algorithm string // sha1|sha256|sha512
	Encoding  string // hex|base64|base64url
	Signed    string // signed-content template
	Key       keyFormat

	TimestampHeader string
	TimestampField  string // JSON body path of a timestamp signed with the body
	TimestampFormat string
	Tolerance       time.Duration // documented window; 0 when none

	IDHeaders []string // first present one is the event id
	IDFields  []string // else these JSON body paths, joined by ":"

	// EventHeader is the header that names the event's type (GitHub's
	// X-GitHub-Event); else the first of EventFields present in the JSON
	// body does (Stripe's and Mux's "type"). Both empty: the sender names
	// no type, or one per event of a batch.
	EventHeader string
	EventFields []string

	Query string   // token query parameter
	Takes []string // Options fields users may set, by subdirective name

	// Covers is what the signature covers of the inputs the gateway
	// decides on (audited; TestPresetCoverage checks it against the
	// scheme). Whoever holds a captured request can change the others.
	Covers coverage
	// Credential: the header (or query parameter) that carries the proof
	// authorizes by itself, as a shared token, a password or a bearer
	// token does: it is removed before the request is passed on.
	Credential bool
}

// coverage is a set of request inputs a signature covers.
type coverage uint8

const (
	coversBody      coverage = 1 << iota // every byte of the body passed on
	coversTimestamp                      // the time the window is checked on
	coversID                             // the event id (the dedup key)
	coversURL                            // the request URL
)

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

// How a preset is proven in the tests (PresetDoc.Proof).
const (
	proofSDK    = "SDK vector"
	proofDocs   = "docs vector"
	proofS14    = "independent vector (python3 hmac = openssl, in internal/verify/vectors_tail_test.go)"
	proofPython = "independent vector (python3 hmac, constant in the test)"
	proofGo     = "round trip: signed in the test with Go's crypto from the documented formula"
	proofToken  = "token comparison (no signature to vector)"
)

var presets = []preset{
	{
		Name:   "standard",
		Source: "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
		Proof:  proofSDK,
		Kind:   kindHMAC, Header: "webhook-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "webhook-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"webhook-id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		Name:   "svix",
		Source: "https://docs.svix.com/receiving/verifying-payloads/how-manual",
		Proof:  proofSDK,
		Kind:   kindHMAC, Header: "svix-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "svix-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"svix-id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Clerk delivers through Svix.
		Name:   "clerk",
		Source: "https://clerk.com/docs/webhooks/verify-webhooks (Svix headers)",
		Proof:  proofSDK + " (svix)",
		Kind:   kindHMAC, Header: "svix-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "svix-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"svix-id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Resend delivers through Svix.
		Name:   "resend",
		Source: "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests (Svix headers)",
		Proof:  proofSDK + " (svix)",
		Kind:   kindHMAC, Header: "svix-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "svix-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"svix-id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		Name:   "openai",
		Source: "https://platform.openai.com/docs/guides/webhooks (Standard Webhooks)",
		Proof:  proofSDK + " (standardwebhooks)",
		Kind:   kindHMAC, Header: "webhook-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "webhook-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"webhook-id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// GitLab's signing token (feature flag webhook_signing_token) is
		// Standard Webhooks with webhook-id = Idempotency-Key. Classic
		// webhooks send only X-Gitlab-Token: see preset gitlab.
		Name:   "gitlab-signed",
		Source: "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/230944 (Standard Webhooks)",
		Proof:  proofSDK + " (standardwebhooks)",
		Kind:   kindHMAC, Header: "webhook-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "webhook-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"webhook-id"},
		EventHeader: "X-Gitlab-Event",
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		Name:   "stripe",
		Source: "https://docs.stripe.com/webhooks#verify-manually",
		Proof:  proofSDK + " (stripe generateTestHeaderString)",
		Kind:   kindHMAC, Header: "Stripe-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 300 * time.Second,
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Calendly documents a 3 min window.
		Name:   "calendly",
		Source: "https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "Calendly-Webhook-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 3 * minute,
		IDFields:    []string{"event", "payload.uri", "created_at"},
		EventFields: []string{"event"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		Name:   "github",
		Source: "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
		Proof:  proofDocs,
		Kind:   kindHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDHeaders:   []string{"X-GitHub-Delivery"},
		EventHeader: "X-GitHub-Event",
		Covers:      coversBody,
	},
	{
		// Gitea and Forgejo send the bare hex HMAC.
		Name:   "gitea",
		Source: "https://docs.gitea.com/usage/webhooks (X-Gitea-Signature)",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Gitea-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDHeaders:   []string{"X-Gitea-Delivery"},
		EventHeader: "X-Gitea-Event",
		Covers:      coversBody,
	},
	{
		// Bitbucket Cloud (2023) and Data Center send sha256= in the
		// header GitHub uses for SHA-1.
		Name:   "bitbucket",
		Source: "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/ (Secure webhooks); https://bitbucket.org/blog/enhanced-webhook-security",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Hub-Signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDHeaders:   []string{"X-Request-UUID", "X-Request-Id"},
		EventHeader: "X-Event-Key",
		Covers:      coversBody,
	},
	{
		// Meta (Facebook, Instagram, WhatsApp Cloud API) signs with the
		// app secret; the GET hub.challenge handshake is separate.
		Name:   "facebook",
		Source: "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		EventFields: []string{"object"},
		Covers:      coversBody,
	},
	{
		// Instagram: a Meta app's webhooks, signed and verified (verify_token)
		// as facebook's; the type is the first change's field.
		Name:   "instagram",
		Source: "https://developers.facebook.com/docs/instagram-platform/webhooks (X-Hub-Signature-256, the app secret)",
		Proof:  proofSDK + " (Meta's one app-secret scheme, signed by whatsapp 0.0.5-Alpha generateXHub256Sig, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		EventFields: []string{"entry.0.changes.0.field", "object"},
		Covers:      coversBody,
	},
	{
		// WhatsApp Cloud API: a Meta app's webhooks, signed and verified (verify_token)
		// as facebook's; the type is the first change's field.
		Name:   "whatsapp",
		Source: "https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks (X-Hub-Signature-256, the app secret)",
		Proof:  proofSDK + " (whatsapp 0.0.5-Alpha, Meta's WhatsApp SDK, generateXHub256Sig signs, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		EventFields: []string{"entry.0.changes.0.field", "object"},
		Covers:      coversBody,
	},
	{
		// Threads: a Meta app's webhooks, signed and verified (verify_token)
		// as facebook's; the type is the first change's field.
		Name:   "threads",
		Source: "https://developers.facebook.com/docs/threads/webhooks (X-Hub-Signature-256, the app secret)",
		Proof:  proofSDK + " (Meta's one app-secret scheme, signed by whatsapp 0.0.5-Alpha generateXHub256Sig, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		EventFields: []string{"entry.0.changes.0.field", "object"},
		Covers:      coversBody,
	},
	{
		// X (Twitter) Account Activity: the consumer secret signs the body;
		// the GET ?crc_token= check is answered with it.
		Name:   "x",
		Source: "https://developer.x.com/en/docs/x-api/enterprise/account-activity-api/guides/securing-webhooks",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "x-twitter-webhooks-signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		Covers: coversBody,
	},
	{
		Name:   "notion",
		Source: "https://developers.notion.com/reference/webhooks#validating-event-payloads",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Notion-Signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversID,
	},
	{
		// The secret is the X-Hook-Secret of the subscription handshake.
		Name:   "asana",
		Source: "https://developers.asana.com/docs/webhooks-guide#security",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Hook-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		Covers: coversBody,
	},
	{
		// event_id exists for Events API JSON; slash commands and
		// interactivity are form posts without one.
		Name:   "slack",
		Source: "https://docs.slack.dev/authentication/verifying-requests-from-slack",
		Proof:  proofDocs,
		Kind:   kindHMAC, Header: "X-Slack-Signature", Prefix: "v0=",
		Algorithm: "sha256", Encoding: "hex", Signed: "v0:{timestamp}:{body}",
		TimestampHeader: "X-Slack-Request-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"event_id"},
		EventFields: []string{"event.type", "type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Zoom mandates no window; 5 min as Slack, whose scheme it copies.
		Name:   "zoom",
		Source: "https://developers.zoom.us/docs/api/webhooks/#verify-with-zooms-header",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "x-zm-signature", Prefix: "v0=",
		Algorithm: "sha256", Encoding: "hex", Signed: "v0:{timestamp}:{body}",
		TimestampHeader: "x-zm-request-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"event", "event_ts"},
		EventFields: []string{"event"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		Name:   "frameio",
		Source: "https://developer.frame.io/docs/automations-webhooks/webhooks-overview#security-and-verification",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Frameio-Signature", Prefix: "v0=",
		Algorithm: "sha256", Encoding: "hex", Signed: "v0:{timestamp}:{body}",
		TimestampHeader: "X-Frameio-Request-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"type", "resource.id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Event-Id is the same across subscriptions; Webhook-Id (per
		// delivery) is the fallback for older API versions.
		Name:   "shopify",
		Source: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Shopify-Hmac-Sha256",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		IDHeaders:   []string{"X-Shopify-Event-Id", "X-Shopify-Webhook-Id"},
		EventHeader: "X-Shopify-Topic",
		Covers:      coversBody,
	},
	{
		// The body lists events (no single id); the secret is the webhook
		// key, also used for the Intent to Receive check.
		Name:   "xero",
		Source: "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/#signature",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "x-xero-signature",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		Covers: coversBody,
	},
	{
		// With several Connect keys DocuSign sends X-DocuSign-Signature-1..N,
		// one per key; the first is checked against every configured secret.
		Name:   "docusign",
		Source: "https://developers.docusign.com/platform/webhooks/connect/validate/",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-DocuSign-Signature-1",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		EventFields: []string{"event"},
		Covers:      coversBody,
	},
	{
		Name:   "twilio",
		Source: "https://www.twilio.com/docs/usage/webhooks/webhooks-security; twilio-node lib/webhooks/webhooks.ts",
		Proof:  proofSDK,
		Kind:   kindTwilio, Header: "X-Twilio-Signature", Algorithm: "sha1", Encoding: "base64",
		IDHeaders: []string{"I-Twilio-Idempotency-Token"},
		Covers:    coversBody | coversURL,
	},
	{
		// The SDK only rejects old timestamps; we also reject future ones.
		Name:   "mux",
		Source: "https://www.mux.com/docs/core/verify-webhook-signatures; mux-node-sdk src/resources/webhooks.ts",
		Proof:  proofSDK,
		Kind:   kindHMAC, Header: "Mux-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 300 * time.Second,
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Not an HMAC: a plain hash with the secret appended. SHA-1 unless
		// the account signs with SHA-256 (`algorithm sha256`). 7200 s is the
		// SDK's default valid_for. Cloudinary has no event id.
		Name:   "cloudinary",
		Source: "https://cloudinary.com/documentation/notifications#verifying_notification_signatures; cloudinary_npm lib/utils/index.js",
		Proof:  proofSDK,
		Kind:   kindHash, Header: "X-Cld-Signature",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}{timestamp}{secret}",
		TimestampHeader: "X-Cld-Timestamp", TimestampFormat: "unix", Tolerance: 7200 * time.Second,
		Takes:       []string{optAlgorithm},
		EventFields: []string{"notification_type"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// The SDK's default TTL is 30 s. No event id is sent; dedupe on
		// the body or `dedupe json sys.id`.
		Name:   "contentful",
		Source: "https://www.contentful.com/developers/docs/webhooks/request-verification/; node-apps-toolkit src/requests/sign-request.ts",
		Proof:  proofSDK + " (node-apps-toolkit signRequest)",
		Kind:   kindContentful, Header: "x-contentful-signature", Algorithm: "sha256", Encoding: "hex",
		TimestampHeader: "x-contentful-timestamp", TimestampFormat: "unix_ms", Tolerance: 30 * time.Second,
		EventHeader: "X-Contentful-Topic",
		Covers:      coversBody | coversTimestamp | coversURL,
	},
	{
		// The window is the JWT's nbf/exp (LiveKit signs for 5 min); the
		// tolerance also bounds the token's age from nbf so that a nonce
		// outlives every token it guards.
		Name:   "livekit",
		Source: "https://docs.livekit.io/home/server/webhooks/; livekit/protocol webhook/verifier.go",
		Proof:  proofGo,
		Kind:   kindJWT, Header: "Authorization", Tolerance: 5 * minute,
		IDFields:    []string{"id"},
		EventFields: []string{"event"},
		Covers:      coversBody | coversTimestamp | coversID, Credential: true,
	},
	{
		// Only the HS256 signature and the claims = body equality are
		// checked: JW Player signs no delivery time of its own.
		Name:   "jwplayer",
		Source: "https://docs.jwplayer.com/platform/reference/webhooks-overview (verify the authenticity of a webhook)",
		Proof:  proofGo,
		Kind:   kindJWTBody, Header: "Authorization",
		IDFields:    []string{"webhook_id", "event", "media_id", "event_time"},
		EventFields: []string{"event"},
		Covers:      coversBody | coversID, Credential: true,
	},
	{
		// Discord mandates no window; 5 min matches the other timestamped
		// presets and tolerates ordinary clock skew.
		Name:   "discord",
		Source: "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
		Proof:  "independent vector (discord-interactions verifyKey = python3 cryptography)",
		Kind:   kindEd25519, Header: "X-Signature-Ed25519", Encoding: "hex", Signed: "{timestamp}{body}",
		TimestampHeader: "X-Signature-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"id"},
		EventFields: []string{"event.type", "type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// SendGrid mandates no window; 10 min allows for its batching. The
		// body is an array of events (each with sg_event_id): no single id.
		Name:   "sendgrid",
		Source: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features; sendgrid-nodejs packages/eventwebhook",
		Proof:  proofSDK,
		Kind:   kindECDSA, Header: "X-Twilio-Email-Event-Webhook-Signature", Encoding: "base64",
		Signed: "{timestamp}{body}", TimestampHeader: "X-Twilio-Email-Event-Webhook-Timestamp",
		TimestampFormat: "unix", Tolerance: 10 * minute,
		Covers: coversBody | coversTimestamp,
	},
	{
		// Shotstack does not sign: a secret token in the callback URL
		// (`?token=`) or, with `header`, in a header. A render's callbacks
		// differ by type (edit, serve), hence the id "<id>:<type>".
		Name:   "shotstack",
		Source: "https://github.com/shotstack/documentation docs/architecting-an-application/webhooks.md",
		Proof:  proofToken,
		Kind:   kindToken, Query: "token",
		IDFields:    []string{"id", "type"},
		Takes:       []string{optHeader, optQuery, optPrefix},
		EventFields: []string{"status"},
		Covers:      0, Credential: true,
	},
	{
		Name:   "paddle",
		Source: "https://developer.paddle.com/webhooks/signature-verification; paddle-node-sdk src/notifications/helpers/webhooks-validator.ts",
		Proof:  proofSDK,
		Kind:   kindHMAC, Header: "Paddle-Signature", List: kvList(';', "ts", "h1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}:{body}",
		TimestampFormat: "unix", Tolerance: 5 * time.Second,
		IDFields:    []string{"event_id"},
		EventFields: []string{"event_type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Signs the notification URL: set `url` when TLS ends before Caddy.
		Name:   "square",
		Source: "https://developer.squareup.com/docs/webhooks/step3validate",
		Proof:  proofSDK,
		Kind:   kindHMAC, Header: "x-square-hmacsha256-signature",
		Algorithm: "sha256", Encoding: "base64", Signed: "{url}{body}",
		IDFields:    []string{"event_id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversURL | coversID,
	},
	{
		// Signs the body followed by the callback URL given when the
		// webhook was created: set `url` when it differs from the request's.
		Name:   "trello",
		Source: "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-Trello-Webhook",
		Algorithm: "sha1", Encoding: "base64", Signed: "{body}{url}",
		IDFields:    []string{"action.id"},
		EventFields: []string{"action.type"},
		Covers:      coversBody | coversURL | coversID,
	},
	{
		// v3 signature. HubSpot decodes a few percent-escapes of the URI
		// before signing; URLs without them (the usual case) match as sent.
		Name:   "hubspot",
		Source: "https://developers.hubspot.com/docs/api/webhooks/validating-requests#validate-the-v3-request-signature",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-HubSpot-Signature-v3",
		Algorithm: "sha256", Encoding: "base64", Signed: "{method}{url}{body}{timestamp}",
		TimestampHeader: "X-HubSpot-Request-Timestamp", TimestampFormat: "unix_ms", Tolerance: 5 * minute,
		Covers: coversBody | coversTimestamp | coversURL,
	},
	{
		Name:   "twitch",
		Source: "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "Twitch-Eventsub-Message-Signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{id}{timestamp}{body}",
		TimestampHeader: "Twitch-Eventsub-Message-Timestamp", TimestampFormat: "rfc3339", Tolerance: 10 * minute,
		IDHeaders:   []string{"Twitch-Eventsub-Message-Id"},
		EventFields: []string{"subscription.type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		Name:   "intercom",
		Source: "https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Hub-Signature", Prefix: "sha1=",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"id"},
		EventFields: []string{"topic"},
		Covers:      coversBody | coversID,
	},
	{
		Name:   "typeform",
		Source: "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "Typeform-Signature", Prefix: "sha256=",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		IDFields:    []string{"event_id"},
		EventFields: []string{"event_type"},
		Covers:      coversBody | coversID,
	},
	{
		// X-Api-Video-WebhookID names the subscription, not the event.
		Name:   "apivideo",
		Source: "https://docs.api.video/reference/create-and-manage-webhooks",
		Proof:  proofDocs,
		Kind:   kindHMAC, Header: "X-Api-Video-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		EventFields: []string{"type"},
		Covers:      coversBody,
	},
	{
		// Keyed by the library's Read-Only API key.
		Name:   "bunny",
		Source: "https://docs.bunny.net/docs/stream-webhook (X-BunnyStream-Signature)",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-BunnyStream-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"VideoGuid", "Status"},
		EventFields: []string{"Status"},
		Covers:      coversBody | coversID,
	},
	{
		Name:   "wistia",
		Source: "https://docs.wistia.com/docs/webhooks#request-signing",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Wistia-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields: []string{"hook.uuid"},
		Covers:   coversBody | coversID,
	},
	{
		// Notifications name accounts only: nothing to dedupe on.
		Name:   "dropbox",
		Source: "https://www.dropbox.com/developers/reference/webhooks#notifications",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Dropbox-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		Covers: coversBody,
	},
	{
		// Sentry-Hook-Timestamp is not signed, so it proves nothing.
		Name:   "sentry",
		Source: "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#sentry-hook-signature",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "Sentry-Hook-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDHeaders:   []string{"Request-ID"},
		EventHeader: "Sentry-Hook-Resource",
		Covers:      coversBody,
	},
	{
		// Vercel signs with SHA-1 (the integration's client secret, or the
		// account webhook's secret).
		Name:   "vercel",
		Source: "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "x-vercel-signature",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversID,
	},
	{
		// The signed body always carries webhookTimestamp (ms); a body
		// without it is refused, never judged by the unsigned
		// linear-timestamp header. ±60 s as the SDK.
		Name:   "linear",
		Source: "https://linear.app/developers/webhooks#securing-webhooks; @linear/sdk src/webhooks/client.ts",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "Linear-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		TimestampField: "webhookTimestamp", TimestampFormat: "unix_ms", Tolerance: 60 * time.Second,
		IDHeaders:   []string{"Linear-Delivery"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// The signature is in the JSON body and covers only timestamp and
		// token, not the event; the token is the nonce. Mailgun mandates no
		// window; 5 min as the other timestamped presets.
		Name:   "mailgun",
		Source: "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks",
		Proof:  proofS14,
		Kind:   kindMailgun, Algorithm: "sha256", Encoding: "hex", Tolerance: 5 * minute,
		IDFields:    []string{"event-data.id"},
		EventFields: []string{"event-data.event"},
		Covers:      coversTimestamp,
	},
	{
		// Retries resend the originally signed message, Timestamp included,
		// so the window reaches back as far as a delivery policy retries
		// (1 h) and ahead only by clock skew; MessageId (stable across
		// retries) stops replays within it.
		Name:        "sns",
		Source:      "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html",
		Proof:       proofGo + "; own certificate served by a local TLS server",
		Kind:        kindSNS,
		Tolerance:   snsTolerance,
		IDFields:    []string{"MessageId"},
		EventFields: []string{"Type"},
		Covers:      coversTimestamp | coversID,
	},
	{
		// Google mints the token per push and may reuse it, so it is no
		// nonce; its exp bounds replays, message.messageId dedupes.
		Name:   "pubsub",
		Source: "https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions",
		Proof:  proofGo + "; RS256 token, JWKS from a local TLS server",
		Kind:   kindOIDC, Header: "Authorization",
		IDFields: []string{"message.messageId"},
		Covers:   0, Credential: true,
	},
	{
		// Classic GitLab webhooks send the secret itself; Idempotency-Key
		// (GitLab >= 17.4) is stable across retries.
		Name:   "gitlab",
		Source: "https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token",
		Proof:  proofToken,
		Kind:   kindToken, Header: "X-Gitlab-Token",
		IDHeaders:   []string{"Idempotency-Key", "X-Gitlab-Event-UUID"},
		EventHeader: "X-Gitlab-Event",
		Covers:      0, Credential: true,
	},
	{
		// Event hooks send the configured secret in the configured header
		// (Authorization by default).
		Name:   "okta",
		Source: "https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request (authentication field)",
		Proof:  proofToken,
		Kind:   kindToken, Header: "Authorization",
		IDFields: []string{"eventId"},
		Takes:    []string{optHeader},
		Covers:   0, Credential: true,
	},
	{
		// Replicate signs with Standard Webhooks; webhook-id is the same
		// on retries.
		Name:   "replicate",
		Source: "https://replicate.com/docs/topics/webhooks/verify-webhook (Standard Webhooks); replicate npm validateWebhook",
		Proof:  proofSDK + " (standardwebhooks; replicate 1.4.0 validateWebhook accepts, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "webhook-signature", List: spaceList, Prefix: "v1,",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{id}.{timestamp}.{body}",
		TimestampHeader: "webhook-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDHeaders:   []string{"webhook-id"},
		EventFields: []string{"status"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// The hmac secret Daily returns is base64: its decoded bytes key
		// the MAC. Daily mandates no window; 5 min as the other presets.
		Name:   "daily",
		Source: "https://docs.daily.co/reference/rest-api/webhooks (hmac: base64 secret, X-Webhook-Signature, X-Webhook-Timestamp)",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-Webhook-Signature",
		Algorithm: "sha256", Encoding: "base64", Key: keyWhsec, Signed: "{timestamp}.{body}",
		TimestampHeader: "X-Webhook-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Cloudflare leaves the window to the receiver; 5 min. A video's
		// notification names it (uid) and its state: no event id.
		Name:   "cloudflare-stream",
		Source: "https://developers.cloudflare.com/stream/manage-video-library/using-webhooks/#verify-webhook-authenticity",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "Webhook-Signature", List: kvList(',', "time", "sig1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"uid", "status.state"},
		EventFields: []string{"status.state"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Agora-Signature-V2 (SHA-256); Agora-Signature carries the SHA-1
		// of the same body. notifyMs changes on retries, noticeId does not.
		Name:   "agora",
		Source: "https://docs.agora.io/cn/Video/signature_verify (Agora-Signature-V2)",
		Proof:  proofDocs,
		Kind:   kindHMAC, Header: "Agora-Signature-V2",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"noticeId"},
		EventFields: []string{"eventType"},
		Covers:      coversBody | coversID,
	},
	{
		// The header's t= is not signed: v1 is the HMAC of the body alone,
		// whose timestamp field (ms) is the one checked. No documented
		// window; 5 min.
		Name:   "livepeer",
		Source: "livepeer/studio packages/api webhook sender (Livepeer-Signature: t=<ms>,v1=<hex HMAC of the body>)",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "Livepeer-Signature", List: listFormat{sep: ','}, Prefix: "v1=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		TimestampField: "timestamp", TimestampFormat: "unix_ms", Tolerance: 5 * minute,
		IDFields:    []string{"id"},
		EventFields: []string{"event"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// 30 min as the SDK's constructEvent.
		Name:   "elevenlabs",
		Source: "https://elevenlabs.io/docs/product-guides/administration/webhooks; @elevenlabs/elevenlabs-js wrapper/webhooks.js",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "ElevenLabs-Signature", List: kvList(',', "t", "v0"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 30 * minute,
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// YouTube's hub (WebSub) signs the Atom feed with the hub.secret
		// given at subscription; the GET verification of intent is
		// answered (hub.challenge), with verify_token when configured.
		Name:   "youtube",
		Source: "https://developers.google.com/youtube/v3/guides/push_notifications; https://www.w3.org/TR/websub/#signing-content",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-Hub-Signature", Prefix: "sha1=",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}",
		Covers: coversBody,
	},
	{
		Name:   "heygen",
		Source: "https://docs.heygen.com/docs/write-your-endpoint-to-process-webhook-events (Signature: hex HMAC-SHA256 of the body)",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"event_type", "event_data.video_id"},
		EventFields: []string{"event_type"},
		Covers:      coversBody | coversID,
	},
	{
		// The public key is base64 (Mission Control); ±300 s as the SDK.
		Name:   "telnyx",
		Source: "https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks; telnyx-node lib/webhooks.js",
		Proof:  "round trip: signed with Go's ed25519, accepted by telnyx 7.24.0 TelnyxWebhook.verify (test/providers_sdk_test.go)",
		Kind:   kindEd25519, Header: "telnyx-signature-ed25519", Encoding: "base64", Signed: "{timestamp}|{body}",
		TimestampHeader: "telnyx-timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"data.id"},
		EventFields: []string{"data.event_type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// t is in milliseconds; 180 s as the SDK.
		Name:   "workos",
		Source: "https://workos.com/docs/events/data-syncing/webhooks; @workos-inc/node SignatureProvider",
		Proof:  proofSDK + " (@workos-inc/node 8.13.0 computeSignature, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "WorkOS-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix_ms", Tolerance: 3 * minute,
		IDFields:    []string{"id"},
		EventFields: []string{"event"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// t is in milliseconds, the MAC unpadded base64url. The SDK checks
		// no window; 5 min.
		Name:   "sanity",
		Source: "https://www.sanity.io/docs/webhooks; @sanity/webhook encodeSignatureHeader",
		Proof:  proofSDK + " (@sanity/webhook 4.0.4 encodeSignatureHeader, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "sanity-webhook-signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "base64url", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix_ms", Tolerance: 5 * minute,
		IDHeaders:   []string{"idempotency-key"},
		EventHeader: "sanity-operation",
		Covers:      coversBody | coversTimestamp,
	},
	{
		Name:   "razorpay",
		Source: "https://razorpay.com/docs/webhooks/validate-test/; razorpay npm validateWebhookSignature",
		Proof:  proofSDK + " (razorpay 2.9.8 validateWebhookSignature accepts, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "X-Razorpay-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDHeaders:   []string{"x-razorpay-event-id"},
		EventFields: []string{"event"},
		Covers:      coversBody,
	},
	{
		Name:   "coinbase-commerce",
		Source: "https://docs.cdp.coinbase.com/commerce/docs/webhooks-security; coinbase-commerce-node lib/Webhook.js",
		Proof:  proofSDK + " (coinbase-commerce-node 1.0.4 Webhook.verifySigHeader accepts, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "X-CC-Webhook-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"event.id"},
		EventFields: []string{"event.type"},
		Covers:      coversBody | coversID,
	},
	{
		// x-webflow-timestamp is in milliseconds; Webflow's docs refuse
		// requests older than 5 min.
		Name:   "webflow",
		Source: "https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures",
		Proof:  proofSDK + " (webflow-api 3.3.4 webhooks.verifySignature accepts, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "x-webflow-signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}:{body}",
		TimestampHeader: "x-webflow-timestamp", TimestampFormat: "unix_ms", Tolerance: 5 * minute,
		EventFields: []string{"triggerType"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// Reporting webhooks. No window is mandated; 5 min.
		Name:   "customerio",
		Source: "https://docs.customer.io/journeys/webhooks/#securely-verify-requests",
		Proof:  proofSDK + " (customerio-node 5.2.0 verifyRequestSignature accepts, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "X-CIO-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "v0:{timestamp}:{body}",
		TimestampHeader: "X-CIO-Timestamp", TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"event_id"},
		EventFields: []string{"metric"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Terraform Cloud / Enterprise notification token; the body lists
		// notifications (no single id or type).
		Name:   "terraform",
		Source: "https://developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations#notification-authenticity",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-TFE-Notification-Signature",
		Algorithm: "sha512", Encoding: "hex", Signed: "{body}",
		Covers: coversBody,
	},
	{
		// The signature mode of the webhook's token (the token mode sends
		// the token itself: preset token). No window is mandated; 5 min.
		Name:   "buildkite",
		Source: "https://buildkite.com/docs/apis/webhooks#webhook-signature",
		Proof:  proofDocs + " (Buildkite's, from its Go library's tests: go-buildkite webhook_test.go; internal/verify/vectors_published_test.go)",
		Kind:   kindHMAC, Header: "X-Buildkite-Signature", List: kvList(',', "timestamp", "signature"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 5 * minute,
		EventHeader: "X-Buildkite-Event",
		Covers:      coversBody | coversTimestamp,
	},
	{
		Name:   "heroku",
		Source: "https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "Heroku-Webhook-Hmac-SHA256",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}",
		IDFields:    []string{"webhook_metadata.event.id"},
		EventFields: []string{"webhook_metadata.event.include"},
		Covers:      coversBody | coversID,
	},
	{
		Name:   "launchdarkly",
		Source: "https://docs.launchdarkly.com/home/infrastructure/webhooks#signing-webhooks",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-LD-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"_id"},
		EventFields: []string{"kind"},
		Covers:      coversBody | coversID,
	},
	{
		// A comma-separated list of versioned signatures; v1 only today.
		Name:   "circleci",
		Source: "https://circleci.com/docs/webhooks/#validate-webhooks",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "circleci-signature", List: listFormat{sep: ','}, Prefix: "v1=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversID,
	},
	{
		// Several v1= signatures while a secret rotates.
		Name:   "pagerduty",
		Source: "https://developer.pagerduty.com/docs/webhooks/webhook-signatures/",
		Proof:  proofDocs + " (PagerDuty's, from its Go library's tests: go-pagerduty webhookv3_test.go; internal/verify/vectors_published_test.go)",
		Kind:   kindHMAC, Header: "X-PagerDuty-Signature", List: listFormat{sep: ','}, Prefix: "v1=",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"event.id"},
		EventFields: []string{"event.event_type"},
		Covers:      coversBody | coversID,
	},
	{
		// Box signs the body and the delivery time with two keys; the
		// primary signature is checked against every configured key, so
		// configure both while rotating. 10 min as Box's SDKs.
		Name:   "box",
		Source: "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
		Proof:  proofSDK + " (box-node-sdk 10.12.0 WebhooksManager.validateMessage accepts, and refuses it 11 min old, test/providers_sdk_test.go)",
		Kind:   kindHMAC, Header: "box-signature-primary",
		Algorithm: "sha256", Encoding: "base64", Signed: "{body}{timestamp}",
		TimestampHeader: "box-delivery-timestamp", TimestampFormat: "rfc3339", Tolerance: 10 * minute,
		IDHeaders:   []string{"box-delivery-id"},
		EventFields: []string{"trigger"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// Postmark does not sign: basic auth credentials in the webhook
		// URL (user:password) and its IP allowlist.
		Name:   "postmark",
		Source: "https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
		Proof:  proofToken,
		Kind:   kindBasic, Header: "Authorization",
		IDFields:    []string{"MessageID", "RecordType"},
		EventFields: []string{"RecordType"},
		Covers:      0, Credential: true,
	},
	{
		Name:   "segment",
		Source: "https://segment.com/docs/connections/destinations/catalog/webhooks/#authentication",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Signature",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}",
		IDFields:    []string{"messageId"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversID,
	},
	{
		Name:   "lemonsqueezy",
		Source: "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "X-Signature",
		Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		EventHeader: "X-Event-Name",
		Covers:      coversBody,
	},
	{
		// While a secret rotates Persona sends two space-separated
		// t=,v1= pairs; the last pair's signature is the one checked, so
		// configure both secrets then. No window is mandated; 5 min.
		Name:   "persona",
		Source: "https://docs.withpersona.com/docs/webhooks-best-practices#checking-signatures",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "Persona-Signature", List: kvList(',', "t", "v1"),
		Algorithm: "sha256", Encoding: "hex", Signed: "{timestamp}.{body}",
		TimestampFormat: "unix", Tolerance: 5 * minute,
		IDFields:    []string{"data.id"},
		EventFields: []string{"data.attributes.name"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Not Standard Webhooks despite the header's name: a bare hex
		// HMAC-SHA1 of the body.
		Name:   "storyblok",
		Source: "https://www.storyblok.com/docs/guide/in-depth/webhooks#securing-a-webhook",
		Proof:  proofS14,
		Kind:   kindHMAC, Header: "webhook-signature",
		Algorithm: "sha1", Encoding: "hex", Signed: "{body}",
		EventFields: []string{"action"},
		Covers:      coversBody,
	},
	{
		// The timestamp is ISO 8601 and signed before the body. No window
		// is mandated; 5 min.
		Name:   "zendesk",
		Source: "https://developer.zendesk.com/documentation/webhooks/verifying/",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-Zendesk-Webhook-Signature",
		Algorithm: "sha256", Encoding: "base64", Signed: "{timestamp}{body}",
		TimestampHeader: "X-Zendesk-Webhook-Signature-Timestamp", TimestampFormat: "rfc3339", Tolerance: 5 * minute,
		IDFields:    []string{"id"},
		EventFields: []string{"type"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Deploy notifications; the body is the deploy, whose state is
		// the event (building, ready, error).
		Name:   "netlify",
		Source: "https://docs.netlify.com/deploy/deploy-notifications/#payload-signature",
		Proof:  proofPython,
		Kind:   kindNetlify, Header: "X-Webhook-Signature",
		IDFields:    []string{"id", "state"},
		EventFields: []string{"state"},
		Covers:      coversBody | coversID,
	},
	{
		// Keys from fal's JWKS (https, no redirects, cached 24 h as fal
		// allows, refetched at most once a minute for an unknown
		// signature); the signed user id must be `user_id`. ±5 min as
		// fal's docs.
		Name:   "fal",
		Source: "https://docs.fal.ai/model-endpoints/webhooks (verifying webhook signatures; key set at rest.alpha.fal.ai/.well-known/jwks.json)",
		Proof:  proofGo + "; ed25519 key set served by a local TLS server",
		Kind:   kindFal, Header: falSignature, TimestampHeader: falTimestamp,
		Tolerance:   falTolerance,
		IDHeaders:   []string{falRequestID},
		EventFields: []string{"status"},
		Covers:      coversBody | coversTimestamp | coversID,
	},
	{
		// Offline verification with the certificate PayPal names (https,
		// PayPal's API hosts, cached an hour). The signature covers a
		// CRC32 of the body, which anyone can match: the body, its id and
		// type are not covered; the transmission (id, time) is, and names
		// the claim.
		Name:   "paypal",
		Source: "https://developer.paypal.com/api/rest/webhooks/rest/ (self-verification: transmission id, time, webhook id, CRC32)",
		Proof:  proofGo + "; own certificate served by a local TLS server",
		Kind:   kindPayPal, Header: paypalTransmissionSig, TimestampHeader: paypalTransmissionTime,
		Tolerance:   paypalTolerance,
		IDFields:    []string{"id"},
		EventFields: []string{"event_type"},
		Covers:      coversTimestamp,
	},
	{
		// Notifications are pings (the payloads are fetched from the API);
		// the MAC is keyed by the base64-decoded macSecretBase64 given when
		// the webhook was created.
		Name:   "airtable",
		Source: "https://airtable.com/developers/web/api/webhooks-overview (X-Airtable-Content-MAC)",
		Proof:  proofPython,
		Kind:   kindHMAC, Header: "X-Airtable-Content-MAC", Prefix: "hmac-sha256=",
		Algorithm: "sha256", Encoding: "hex", Key: keyWhsec, Signed: "{body}",
		IDFields: []string{"webhook.id", "timestamp"},
		Covers:   coversBody | coversID,
	},
	{
		// api_key is the client id, secret the API secret (any configured
		// one may fetch keys), jwks_url the key endpoint for Sandbox
		// (https://sandbox.plaid.com/webhook_verification_key/get). A
		// webhook names no event id: type and code are its event.
		Name:   "plaid",
		Source: "https://plaid.com/docs/api/webhooks/webhook-verification/",
		Proof:  proofGo + "; ES256 key served by a local TLS server as /webhook_verification_key/get",
		Kind:   kindPlaid, Header: plaidHeader,
		Tolerance:   plaidTolerance,
		EventFields: []string{"webhook_code"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// The environment named in the header is signed too. Hygraph
		// mandates no window; 5 min as the other timestamped presets.
		Name:   "hygraph",
		Source: "https://hygraph.com/docs/api-reference/basics/webhooks#signed-webhooks; @hygraph/utils index.js",
		Proof:  proofSDK + " (@hygraph/utils 1.2.1 generateWebhookSignature and verifyWebhookSignature, test/providers_sdk_test.go)",
		Kind:   kindHygraph, Header: "gcms-signature",
		Tolerance:   5 * minute,
		EventFields: []string{"operation"},
		Covers:      coversBody | coversTimestamp,
	},
	{
		// api_key is the public key, secret the private key. The form is
		// signed as parsed: its claim is a digest of bt_payload. The
		// webhook URL check (GET ?bt_challenge=) is answered.
		Name:   "braintree",
		Source: "https://developer.paypal.com/braintree/docs/guides/webhooks/parse; braintree_node lib/braintree/webhook_notification_gateway.js",
		Proof:  proofSDK + " (braintree 3.40.0 sampleNotification and verify, test/providers_sdk_test.go)",
		Kind:   kindBraintree, Header: "bt_signature",
		Covers: coversBody,
	},
	{
		Name: "hmac", Source: "generic: configured by the block", Proof: proofS14,
		Kind: kindHMAC, Algorithm: "sha256", Encoding: "hex", Signed: "{body}", TimestampFormat: "unix",
		Tolerance: 5 * minute, // when a timestamp is configured
		Takes:     genericHMAC,
		Covers:    coversBody,
	},
	{
		Name: "rsa", Source: "generic: RSA PKCS#1 v1.5 (as AWS SNS uses), configured by the block", Proof: proofGo,
		Kind: kindRSA, Algorithm: "sha256", Encoding: "base64", Signed: "{body}", TimestampFormat: "unix",
		Tolerance: 5 * minute, // when a timestamp is configured
		Takes:     genericHMAC,
		Covers:    coversBody,
	},
	{
		Name: "token", Source: "generic: a shared token compared in constant time", Proof: proofToken,
		Kind:   kindToken,
		Takes:  []string{optHeader, optQuery, optPrefix, optIDHeader},
		Covers: 0, Credential: true,
	},
	{
		Name: "basic", Source: "RFC 7617; the secret is user:password", Proof: proofToken,
		Kind: kindBasic, Header: "Authorization",
		Takes:  []string{optIDHeader},
		Covers: 0, Credential: true,
	},
}

// credentials are the headers and the query parameter (canonical; "" for
// none) that carry a Credential preset's proof.
func (p *preset) credentials() ([]string, string) {
	if !p.Credential {
		return nil, ""
	}
	var headers []string
	if p.Header != "" {
		headers = []string{textproto.CanonicalMIMEHeaderKey(p.Header)}
	}
	return headers, p.Query
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
		if !slices.Contains(p.Takes, f.name) {
			return fmt.Errorf("provider %s does not take `%s` (it takes: %s)", p.Name, f.name, takes(p.Takes))
		}
		*f.dst = f.val
	}
	if o.IDHeader != "" {
		if !slices.Contains(p.Takes, optIDHeader) {
			return fmt.Errorf("provider %s does not take `%s` (it takes: %s)", p.Name, optIDHeader, takes(p.Takes))
		}
		p.IDHeaders = []string{o.IDHeader}
	}
	// A header chosen for a token replaces the default query parameter.
	if p.Kind == kindToken && o.Header != "" && o.Query == "" {
		p.Query = ""
	}
	// A generic scheme covers what its template signs.
	if p.Takes != nil && slices.Contains(p.Takes, optSigned) {
		if strings.Contains(p.Signed, "{id}") && len(p.IDHeaders) > 0 {
			p.Covers |= coversID
		}
		if strings.Contains(p.Signed, "{url}") {
			p.Covers |= coversURL
		}
	}
	return nil
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
	case kindMailgun:
		s, err := newMailgunScheme(p, o.Secrets)
		return s, true, err
	case kindJWTBody:
		s, err := newJWTBodyScheme(p, o.Secrets)
		return s, false, err
	case kindSNS:
		s, err := newSNSScheme(o)
		return s, false, err
	case kindOIDC:
		s, err := newOIDCScheme(p, o)
		return s, false, err
	case kindNetlify:
		s, err := newNetlifyScheme(p, o.Secrets)
		return s, false, err
	case kindFal:
		s, err := newFalScheme(p, o)
		return s, true, err
	case kindPayPal:
		s, err := newPayPalScheme(p, o)
		return s, true, err
	case kindPlaid:
		s, err := newPlaidScheme(p, o)
		return s, true, err
	case kindHygraph:
		s, err := newHygraphScheme(p, o.Secrets)
		return s, true, err
	case kindBraintree:
		s, err := newBraintreeScheme(p, o)
		return s, false, err
	}
	return nil, false, fmt.Errorf("unhandled scheme kind %d", p.Kind)
}
