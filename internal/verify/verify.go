// Package verify checks webhook signatures. It knows nothing of Caddy: it
// takes the request's method, URL, headers and body as plain values.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Errors returned by Verifier.Verify. The glue maps them to the documented
// answers; their text never contains a secret or an expected signature.
var (
	// ErrInvalidSignature: the signature is missing, malformed or wrong.
	ErrInvalidSignature = errors.New("invalid_signature")
	// ErrTimestamp: the signed timestamp is outside the tolerance window.
	ErrTimestamp = errors.New("timestamp_out_of_tolerance")
	// ErrKeyUnavailable: the publisher's key or certificate could not be
	// fetched (network, timeout, a 5xx or 429), so the signature was not
	// judged. The sender should retry: AWS SNS drops a message answered
	// with any other 4xx.
	ErrKeyUnavailable = errors.New("key_unavailable")
)

// Reasons wrapped around the two sentinel errors. Allocated once so that a
// flood of bad requests costs no garbage; they name headers, never values.
var (
	errMissing   = fmt.Errorf("%w: missing signature or timestamp", ErrInvalidSignature)
	errMalformed = fmt.Errorf("%w: malformed signature or timestamp", ErrInvalidSignature)
	errNoMatch   = fmt.Errorf("%w: no signature matched", ErrInvalidSignature)
	errTooOld    = fmt.Errorf("%w: too old", ErrTimestamp)
	errTooNew    = fmt.Errorf("%w: in the future", ErrTimestamp)
)

// Request is what a scheme sees of an HTTP request.
type Request struct {
	Method string
	// URL is the full URL the sender signed: scheme://host/path?query.
	URL    string
	Header http.Header
	Body   []byte
	// Now is the time to judge timestamps by; zero means time.Now().
	Now time.Time
}

// Result is what a successful verification learned.
type Result struct {
	// ID is the provider's event id, "" when the preset has none or the
	// request carries none.
	ID string
	// Nonce is the one-time material of a scheme that signs a timestamp,
	// derived from what was verified (the matching MAC, or a hash of the
	// signed message) so that re-encoding or padding the signature header
	// cannot mint a fresh nonce for the same signed request; "" for schemes
	// without a signed timestamp.
	Nonce string
	// Content is a digest of the signed body content as a scheme that
	// parses what it signs sees it (Twilio's sorted form parameters, a JWT
	// whose claims are the body, SNS's canonical fields): bodies that
	// differ in bytes but verify alike are one content. "" where the
	// signature covers the body byte for byte.
	Content string
}

// canonical is a scheme whose signature covers the body as it parses it,
// not byte for byte.
type canonical interface {
	// content is the signed body content in one canonical form; called
	// only on a request that verified.
	content(r *Request) []byte
}

var (
	_ canonical = (*twilioScheme)(nil)
	_ canonical = (*jwtBodyScheme)(nil)
	_ canonical = (*snsScheme)(nil)
)

// Options configure a Verifier: the secrets and keys, plus the scheme for the
// generic `hmac` and `token` providers. Zero values mean the preset's default.
type Options struct {
	Secrets    []string       // any one that verifies is accepted
	PublicKeys []string       // ed25519 / ECDSA / RSA presets; any one may match
	Tolerance  *time.Duration // nil: the preset's documented window; 0: off
	// KeyID names the key that signed (LiveKit: the API key, checked
	// against the JWT's iss).
	KeyID string

	// Generic schemes (provider `hmac`, `token`, `basic`, `rsa`), and the
	// few preset fields a provider lets users change (see Preset.Takes).
	Header          string // signature or token header
	Query           string // token query parameter (provider `token`)
	Algorithm       string // sha1|sha256|sha512
	Encoding        string // hex|base64|base64url
	Prefix          string
	Signed          string // template: {body} {timestamp} {id} {url} {method} {header.Name}
	TimestampHeader string
	TimestampFormat string // unix|unix_ms|rfc3339
	IDHeader        string

	// SNSHost is a regexp that the host of an SNS SubscribeURL and of its
	// SigningCertURL must match (e.g. LocalStack's); "" means
	// sns.<region>.amazonaws.com[.cn].
	SNSHost string
	// TopicARNs are the SNS topics accepted (provider sns, required: any
	// AWS account can otherwise subscribe this endpoint to its own topic).
	TopicARNs []string

	// Google Pub/Sub push (provider pubsub): the OIDC token's expected
	// audience (required: the push endpoint's public URL, or the
	// subscription's custom audience), the push subscription's service
	// account (required), and where Google's signing keys are published
	// ("" means https://www.googleapis.com/oauth2/v3/certs; https only).
	Audience string
	Email    string
	JWKSURL  string

	// FalUserID is the fal.ai account whose webhooks are accepted
	// (provider fal, required). JWKSURL, when set, replaces fal's key set
	// URL too.
	FalUserID string

	// PayPalWebhookID is the id PayPal gave the listener's webhook
	// (provider paypal, required): it is signed. PayPalHost is a regexp
	// that the host of PAYPAL-CERT-URL must match; "" means PayPal's live
	// and sandbox API hosts.
	PayPalWebhookID string
	PayPalHost      string

	// HTTPClient fetches SNS certificates and JWKS (providers sns, pubsub)
	// under the fetch policy (https only, no redirects, bounded time and
	// size; see Fetch); nil means the default transport. Tests inject
	// their own.
	HTTPClient *http.Client
}

// scheme is one way of checking a signature. check returns the signed
// timestamp (zero when the scheme signs none) and the nonce material.
type scheme interface {
	check(r *Request, now time.Time) (ts time.Time, nonce string, err error)
}

// onceStamped is a scheme whose sender stamps a message once and resends it
// unchanged on every retry (SNS). Its timestamp is windowed, back by the
// tolerance, which must outlast the sender's retries, and ahead only by
// futureSkew; it yields no nonce, since a resend is a retry, deduplicated
// by the event id.
type onceStamped interface {
	futureSkew() time.Duration
}

// Verifier checks requests for one provider with one set of secrets. It is
// safe for concurrent use.
type Verifier struct {
	scheme    scheme
	tolerance time.Duration
	future    time.Duration // how far ahead a timestamp may be
	signsTS   bool
	ids       eventID
	events    eventType
	handshake handshakeConfig
	// credHeaders and credQuery carry a proof that authorizes by itself.
	credHeaders []string
	credQuery   string
	covers      coverage
}

// New builds the Verifier for a provider (see Providers) from its options.
// Its errors name the subdirective to fix.
func New(provider string, o Options) (*Verifier, error) {
	p, ok := presetByName(provider)
	if !ok {
		return nil, fmt.Errorf("unknown webhook provider %q; known providers: %s",
			provider, strings.Join(Providers(), ", "))
	}
	if err := p.apply(o); err != nil {
		return nil, err
	}
	s, signsTS, err := p.build(o)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	hs, err := newHandshakeConfig(&p, o)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	v := &Verifier{scheme: s, signsTS: signsTS, ids: newEventID(p.IDHeaders, p.IDFields), events: newEventType(p.EventHeader, p.EventFields), handshake: hs, covers: p.Covers}
	v.credHeaders, v.credQuery = p.credentials()
	once, isOnce := s.(onceStamped)
	if signsTS || isOnce {
		v.tolerance = p.Tolerance
		if o.Tolerance != nil {
			if *o.Tolerance < 0 {
				return nil, fmt.Errorf("provider %s: `tolerance` must not be negative", p.Name)
			}
			v.tolerance = *o.Tolerance
		}
	}
	v.future = v.tolerance
	if isOnce {
		v.future = min(v.tolerance, once.futureSkew())
	}
	return v, nil
}

// Verify checks the request's signature, then its timestamp window. Errors
// wrap ErrInvalidSignature or ErrTimestamp.
func (v *Verifier) Verify(r *Request) (Result, error) {
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	ts, nonce, err := v.scheme.check(r, now)
	if err != nil {
		return Result{}, err
	}
	if v.tolerance > 0 {
		// Both directions: a timestamp far in the future is as suspect as
		// a stale one, and would otherwise outlive the nonce's TTL.
		switch age := now.Sub(ts); {
		case age > v.tolerance:
			return Result{}, errTooOld
		case age < -v.future:
			return Result{}, errTooNew
		}
	}
	res := Result{ID: v.ids.of(r), Nonce: nonce}
	if c, ok := v.scheme.(canonical); ok {
		sum := sha256.Sum256(c.content(r))
		res.Content = hex.EncodeToString(sum[:])
	}
	return res, nil
}

// Tolerance is the effective timestamp window, applied to the past and the
// future alike (SNS: to the past; ahead only clock skew is allowed); 0
// means the timestamp is not checked.
func (v *Verifier) Tolerance() time.Duration { return v.tolerance }

// SignsTimestamp reports whether the scheme signs a timestamp that makes a
// request one-time, i.e. whether Result.Nonce is set and replay protection
// by nonce applies. SNS signs a timestamp too, but resends it unchanged on
// retries: it is windowed (Tolerance) and makes no nonce.
func (v *Verifier) SignsTimestamp() bool { return v.signsTS }

// CredentialHeaders are the headers (canonical) whose value authorizes by
// itself, not bound to the body: a shared token, basic credentials or a
// bearer token. Whoever reads one can present it again, so they must not
// leave the edge once verified.
func (v *Verifier) CredentialHeaders() []string { return v.credHeaders }

// CredentialQuery is the query parameter that carries a shared token, ""
// when the token is not in the URL.
func (v *Verifier) CredentialQuery() string { return v.credQuery }

// Vouches reports what the verified proof vouches for, that is what a
// claim may be keyed by: the body and the event id where the signature
// covers them. A shared credential (token, password, bearer token) covers
// nothing but vouches for the whole request, headers included (request),
// since whoever holds it can send anything anyway.
func (v *Verifier) Vouches() (body, id, request bool) {
	if v.covers == 0 {
		return true, true, true
	}
	return v.covers&coversBody != 0, v.covers&coversID != 0, false
}

// HasEventID reports whether the provider names its events (Result.ID may
// still be "" for a request that carries none, e.g. Slack form posts).
func (v *Verifier) HasEventID() bool { return v.ids.configured() }

// Providers lists the known provider names, sorted.
func Providers() []string {
	names := make([]string, 0, len(presets))
	for _, p := range presets {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}
