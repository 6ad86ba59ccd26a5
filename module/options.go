package webhookingress

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// VerifyOptions are webhook_verify's options, in one place for every way
// of setting them: the JSON config decodes into them, the Caddyfile parser
// fills them (its subdirectives stay flat; see plainOptions), and
// `caddy webhook sign` and `send` fill the scheme's from their flags. They
// reach the verify package through verifyConfig alone and are checked by
// check alone.
type VerifyOptions struct {
	// Provider is a preset name (see docs/presets.md) or a generic
	// scheme: hmac, token, basic or rsa.
	Provider string `json:"provider"`
	// Name is the handler's `route` label in metrics. Default: the host
	// and path matchers of the routes leading to the handler, else the
	// server's name.
	Name string `json:"name,omitempty"`
	// Secrets are what the sender signs with (or sends, for token
	// presets); any one that verifies is accepted, so a rotation lists the
	// new and the old. Each may be a placeholder such as
	// {env.STRIPE_SECRET} or {file.path}, resolved at provision time so
	// that the secret is never in the JSON config.
	Secrets []string `json:"secrets,omitempty"`
	// PublicKeys verify presets whose sender signs with a private key
	// (Ed25519, ECDSA, RSA); any one may match. Placeholders are resolved
	// as for Secrets.
	PublicKeys []string `json:"public_keys,omitempty"`
	// APIKey is the key id of presets keyed by two values (LiveKit's API
	// key, checked against the token's issuer); it may be a placeholder.
	APIKey string `json:"api_key,omitempty"`
	// Tolerance is how far a signed timestamp may be from the gateway's
	// clock. Unset: the provider's documented window; 0 turns the check
	// off (replays are still refused for replay_ttl).
	Tolerance *caddy.Duration `json:"tolerance,omitempty"`
	// MaxBody is the largest body accepted, in bytes; a larger one is
	// answered 413. Default: 10 MB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Dedupe selects the dedup key and window. Default: the event id
	// where the provider signs one, else the signed content, for 24h.
	// Every key comes from bytes the signature covers: `id` on a preset
	// whose id is unsigned keys by the signed content, and `header` or
	// `json` are refused where the signature does not cover them.
	Dedupe *Dedupe `json:"dedupe,omitempty"`
	// Scope is the claim namespace: routes share replay and dedup state
	// only when they name the same scope. Default: one per route (the
	// provider and every matcher on the way to the handler), stable across
	// reloads, restarts and secret rotation, and the same on instances
	// configured alike (whatever port they listen on). Name one to share
	// it on purpose, or to keep it across a change of the route's matchers.
	Scope string `json:"scope,omitempty"`
	// ReplayTTL is how long a signed request is remembered to refuse it
	// again (409 replayed). Default: twice the tolerance; a shorter one is
	// refused, since a replay would then pass once its nonce expired.
	ReplayTTL caddy.Duration `json:"replay_ttl,omitempty"`
	// URL is the public URL the sender signed (Twilio, Square), for when
	// TLS ends before Caddy or a proxy rewrites the host. Default: the
	// request's own URL.
	URL string `json:"url,omitempty"`
	// OnStoreError is what happens when the store cannot be reached:
	// `reject` (default: 503 with Retry-After, so the sender retries) or
	// `allow` (pass the request on without replay and dedup checks).
	OnStoreError string `json:"on_store_error,omitempty"`

	// SNS holds the options of provider sns.
	SNS SNSOptions `json:"sns,omitzero"`
	// PubSub holds the options of provider pubsub.
	PubSub PubSubOptions `json:"pubsub,omitzero"`
	// Facebook holds the options of provider facebook.
	Facebook FacebookOptions `json:"facebook,omitzero"`
	// Fal holds the options of provider fal.
	Fal FalOptions `json:"fal,omitzero"`
	// PayPal holds the options of provider paypal.
	PayPal PayPalOptions `json:"paypal,omitzero"`
	// Scheme describes the signature of the generic schemes (hmac, rsa,
	// token), and the few fields some presets let users change.
	Scheme SchemeOptions `json:"scheme,omitzero"`
}

// SNSOptions are the `sns` options of webhook_verify.
type SNSOptions struct {
	// TopicARNs are the topics accepted (required: any AWS account could
	// otherwise subscribe the endpoint to its own topic). Caddyfile:
	// `topic_arn`, repeatable.
	TopicARNs []string `json:"topic_arns,omitempty"`
	// Host is a regexp that the host of SigningCertURL and SubscribeURL
	// must match. Default: sns.<region>.amazonaws.com[.cn]. Caddyfile:
	// `sns_host`.
	Host string `json:"host,omitempty"`
	// AutoConfirm confirms a subscription by fetching its SubscribeURL
	// (https, allowed host only); without it the URL is logged for an
	// operator to visit.
	AutoConfirm bool `json:"auto_confirm,omitempty"`
}

// PubSubOptions are the `pubsub` options of webhook_verify (Google Cloud
// Pub/Sub push with an OIDC token).
type PubSubOptions struct {
	// Audience is the token's expected audience (required): the push
	// endpoint's public URL, or the subscription's custom audience. It
	// may be a placeholder.
	Audience string `json:"audience,omitempty"`
	// Email is the push subscription's service account (required); it may
	// be a placeholder.
	Email string `json:"email,omitempty"`
	// JWKSURL is where Google's signing keys are published (https only).
	// Default: https://www.googleapis.com/oauth2/v3/certs.
	JWKSURL string `json:"jwks_url,omitempty"`
}

// FacebookOptions are the `facebook` options of webhook_verify, which
// the other Meta presets (instagram, whatsapp, threads) and youtube
// (WebSub's hub.verify_token) share.
type FacebookOptions struct {
	// VerifyToken answers Meta's subscription handshake (GET
	// ?hub.mode=subscribe): the challenge is echoed only when
	// hub.verify_token is this token. It may be a placeholder.
	VerifyToken string `json:"verify_token,omitempty"`
}

// FalOptions are the `fal` options of webhook_verify (fal.ai, whose
// key set is fetched from fal; `jwks_url`, the pubsub option, replaces its
// URL).
type FalOptions struct {
	// UserID is the fal account whose webhooks are accepted (required:
	// fal signs every account's webhooks with the same keys). Caddyfile:
	// `user_id`. It may be a placeholder.
	UserID string `json:"user_id,omitempty"`
}

// PayPalOptions are the `paypal` options of webhook_verify.
type PayPalOptions struct {
	// WebhookID is the id PayPal gave the listener's webhook (required:
	// it is signed, so another app's notifications do not verify).
	// Caddyfile: `webhook_id`. It may be a placeholder.
	WebhookID string `json:"webhook_id,omitempty"`
	// Host is a regexp that the host of PAYPAL-CERT-URL must match.
	// Default: PayPal's live and sandbox API hosts. Caddyfile:
	// `paypal_host`.
	Host string `json:"host,omitempty"`
}

// SchemeOptions describe a generic signature (providers hmac, rsa and
// token), and the few fields a preset lets users change (see
// docs/presets.md).
type SchemeOptions struct {
	// Header is the header carrying the signature or token.
	Header string `json:"header,omitempty"`
	// Query is the query parameter carrying the token (provider token).
	Query string `json:"query,omitempty"`
	// Algorithm is the signature's hash: sha1, sha256 or sha512. Default:
	// sha256.
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding is the signature's encoding: hex, base64 or base64url.
	// Default: hex (rsa: base64).
	Encoding string `json:"encoding,omitempty"`
	// Prefix precedes the signature in its header (such as "sha256=").
	Prefix string `json:"prefix,omitempty"`
	// Signed is the template of the signed bytes, of {body},
	// {timestamp}, {id}, {url}, {method} and {header.Name}. Default:
	// {body}.
	Signed string `json:"signed,omitempty"`
	// TimestampHeader is the header carrying the signed timestamp.
	TimestampHeader string `json:"timestamp_header,omitempty"`
	// TimestampFormat is the timestamp's format: unix, unix_ms or
	// rfc3339. Default: unix.
	TimestampFormat string `json:"timestamp_format,omitempty"`
	// IDHeader is the header carrying the event id.
	IDHeader string `json:"id_header,omitempty"`
}

// words are the scheme's options by subdirective, each one word: the one
// list of them that the Caddyfile parser and the sign command's flags read.
func (s *SchemeOptions) words() map[string]*string {
	return map[string]*string{
		"header": &s.Header, "query": &s.Query, "algorithm": &s.Algorithm, "encoding": &s.Encoding,
		"prefix": &s.Prefix, "signed": &s.Signed, "timestamp_header": &s.TimestampHeader,
		"timestamp_format": &s.TimestampFormat, "id_header": &s.IDHeader,
	}
}

// plainOptions are the subdirectives that take one word, by name: the
// scheme's and the others kept as written. Repeatable ones (lists) append.
func (o *VerifyOptions) plainOptions() (words map[string]*string, lists map[string]*[]string) {
	words = o.Scheme.words()
	for name, dst := range map[string]*string{
		"name": &o.Name, "api_key": &o.APIKey, "scope": &o.Scope, "url": &o.URL, "on_store_error": &o.OnStoreError,
		"sns_host": &o.SNS.Host, "audience": &o.PubSub.Audience, "email": &o.PubSub.Email,
		"jwks_url": &o.PubSub.JWKSURL, "verify_token": &o.Facebook.VerifyToken, "user_id": &o.Fal.UserID,
		"webhook_id": &o.PayPal.WebhookID, "paypal_host": &o.PayPal.Host,
	} {
		words[name] = dst
	}
	lists = map[string]*[]string{"secret": &o.Secrets, "public_key": &o.PublicKeys, "topic_arn": &o.SNS.TopicARNs}
	return words, lists
}

// verifyConfig is the one mapping of the options to the verify package's.
// resolve is applied to the values that may be placeholders (credentials
// and the Pub/Sub identity), never to templates such as `signed`, whose
// braces are the scheme's own.
func (o *VerifyOptions) verifyConfig(resolve func(string) (string, error)) (verify.Options, error) {
	var errs []error
	one := func(s string) string {
		if s == "" {
			return s
		}
		r, err := resolve(s)
		errs = append(errs, err)
		return r
	}
	all := func(in []string) []string {
		out := make([]string, 0, len(in))
		for _, s := range in {
			out = append(out, one(s))
		}
		return out
	}
	cfg := verify.Options{
		Secrets:         all(o.Secrets),
		PublicKeys:      all(o.PublicKeys),
		KeyID:           one(o.APIKey),
		Header:          o.Scheme.Header,
		Query:           o.Scheme.Query,
		Algorithm:       o.Scheme.Algorithm,
		Encoding:        o.Scheme.Encoding,
		Prefix:          o.Scheme.Prefix,
		Signed:          o.Scheme.Signed,
		TimestampHeader: o.Scheme.TimestampHeader,
		TimestampFormat: o.Scheme.TimestampFormat,
		IDHeader:        o.Scheme.IDHeader,
		TopicARNs:       o.SNS.TopicARNs,
		SNSHost:         o.SNS.Host,
		Audience:        one(o.PubSub.Audience),
		Email:           one(o.PubSub.Email),
		JWKSURL:         o.PubSub.JWKSURL,
		FalUserID:       one(o.Fal.UserID),
		PayPalWebhookID: one(o.PayPal.WebhookID),
		PayPalHost:      o.PayPal.Host,
	}
	if o.Tolerance != nil {
		tol := time.Duration(*o.Tolerance)
		cfg.Tolerance = &tol
	}
	return cfg, errors.Join(errs...)
}

// asWritten is verifyConfig's resolve for values that are never
// placeholders (the sign command's flags).
func asWritten(s string) (string, error) { return s, nil }

// check refuses what the verify package does not judge: the module's own
// options, and claim settings that vf's signature cannot back. vf is nil
// when the verifier cannot be built yet (a credential is a placeholder, at
// adapt time); Validate checks again once it is.
func (o *VerifyOptions) check(vf *verify.Verifier) error {
	switch o.OnStoreError {
	case "", "reject", "allow":
	default:
		return fmt.Errorf("on_store_error must be reject or allow, not %q", o.OnStoreError)
	}
	if o.SNS.AutoConfirm && o.Provider != "sns" {
		return errors.New("auto_confirm applies to provider sns only")
	}
	if o.Dedupe != nil {
		if err := o.Dedupe.check(); err != nil {
			return err
		}
	}
	if vf == nil {
		return nil
	}
	if o.Dedupe != nil {
		if err := checkDedupeSigned(*o.Dedupe, vf); err != nil {
			return err
		}
	}
	return checkReplayTTL(time.Duration(o.ReplayTTL), vf)
}

// Dedupe is the `dedupe` option: what identifies an event, and for how long
// a resend of it is answered as a duplicate.
type Dedupe struct {
	// Mode is id (the event id the provider signs), body (the signed
	// content), header (a request header, where the signature covers the
	// request), json (a field of a signed body) or off (replays are still
	// refused where the provider signs a timestamp).
	Mode string `json:"mode"`
	// Arg is the header name (mode header) or the dotted JSON path (mode
	// json), such as data.object.id.
	Arg string `json:"arg,omitempty"`
	// Window is how long a processed event is remembered. Default: 24h.
	Window caddy.Duration `json:"window,omitempty"`
}

// checkReplayTTL refuses nonces that die before their request does: a
// timestamp up to the tolerance ahead stays acceptable for twice the
// tolerance, and a replay after its nonce expired would pass. The Caddyfile
// parser and Validate share it.
func checkReplayTTL(ttl time.Duration, vf *verify.Verifier) error {
	tolerance := vf.Tolerance()
	if ttl == 0 || !vf.SignsTimestamp() || ttl >= 2*tolerance {
		return nil
	}
	return fmt.Errorf("replay_ttl %v is shorter than twice the tolerance (%v), so a replay after %v would be accepted: set replay_ttl to %v or more, or remove it (the default is twice the tolerance)",
		ttl, tolerance, ttl, 2*tolerance)
}

// check says what is wrong with a dedupe setting; the Caddyfile parser and
// Validate (for JSON configs) share it.
func (d Dedupe) check() error {
	switch d.Mode {
	case "id", "body", "off":
		return nil
	case "header", "json":
		if d.Arg == "" {
			return fmt.Errorf("dedupe %s needs a %s", d.Mode, map[string]string{"header": "header name", "json": "JSON path"}[d.Mode])
		}
		return nil
	}
	return fmt.Errorf("dedupe must be id, body, header <name>, json <path> or off, not %q", d.Mode)
}
