package webhookingress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

func init() {
	caddy.RegisterModule(new(Verify))
}

const (
	defaultMaxBody     = 10 << 20
	defaultDedupWindow = 24 * time.Hour
	// claimLease bounds how long a claim whose request is still in flight
	// holds its keys if this process dies before committing or releasing.
	claimLease = 5 * time.Minute
	// retryAfterSeconds is what 409 in_progress and 503 answers suggest.
	retryAfterSeconds = "5"
)

// Verify is the `webhook_verify` handler: it verifies the sender's signature,
// rejects replays and duplicates, and passes the request on with its body
// restored byte for byte.
type Verify struct {
	// Provider is a preset name (see `verify.Providers`) or hmac/token/basic.
	Provider string `json:"provider"`
	// Name is this handler's `route` label in metrics; default: the host
	// and path matchers configured for its route.
	Name       string   `json:"name,omitempty"`
	Secrets    []string `json:"secrets,omitempty"`
	PublicKeys []string `json:"public_keys,omitempty"`
	// APIKey is the key id of presets keyed by two values (LiveKit's API
	// key, checked against the token's issuer).
	APIKey string `json:"api_key,omitempty"`
	// Tolerance is the timestamp window; nil means the provider's own.
	Tolerance *caddy.Duration `json:"tolerance,omitempty"`
	// MaxBody in bytes; default 10MB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Dedupe selects the dedup key; default `id` where the provider signs
	// an event id, else `body` (the signed content). Every key comes from
	// bytes the signature covers: `id` on a preset whose id is unsigned
	// keys by the signed content, and `header`/`json` are refused where
	// the signature does not cover them.
	Dedupe *Dedupe `json:"dedupe,omitempty"`
	// Scope is the claim namespace: routes share replay and dedup state
	// only when they name the same scope. Default: one per route (the
	// provider and every matcher on the way to the handler), stable across
	// reloads, restarts and secret rotation, and the same on instances
	// configured alike (whatever port they listen on). Name one to share it on
	// purpose, or to keep it across a change of the route's matchers.
	Scope string `json:"scope,omitempty"`
	// ReplayTTL is how long nonces are kept; default twice the tolerance.
	ReplayTTL caddy.Duration `json:"replay_ttl,omitempty"`
	// URL is the public URL the sender signed (Twilio, Square) when TLS ends
	// before Caddy.
	URL string `json:"url,omitempty"`
	// OnStoreError is reject (default: 503) or allow (pass on unchecked).
	OnStoreError string `json:"on_store_error,omitempty"`

	// AWS SNS: the topics accepted (empty: any), the host pattern that
	// SigningCertURL and SubscribeURL must match, and whether to confirm
	// subscriptions by fetching SubscribeURL.
	TopicARNs   []string `json:"topic_arns,omitempty"`
	SNSHost     string   `json:"sns_host,omitempty"`
	AutoConfirm bool     `json:"auto_confirm,omitempty"`
	// Google Pub/Sub push: the token's audience (default: the request
	// URL), the subscription's service account, and the JWKS URL.
	Audience string `json:"audience,omitempty"`
	Email    string `json:"email,omitempty"`
	JWKSURL  string `json:"jwks_url,omitempty"`
	// VerifyToken answers Facebook/Meta's subscription handshake.
	VerifyToken string `json:"verify_token,omitempty"`

	// The generic `hmac` and `token` schemes.
	Header          string `json:"header,omitempty"`
	Query           string `json:"query,omitempty"`
	Algorithm       string `json:"algorithm,omitempty"`
	Encoding        string `json:"encoding,omitempty"`
	Prefix          string `json:"prefix,omitempty"`
	Signed          string `json:"signed,omitempty"`
	TimestampHeader string `json:"timestamp_header,omitempty"`
	TimestampFormat string `json:"timestamp_format,omitempty"`
	IDHeader        string `json:"id_header,omitempty"`

	verifier    *verify.Verifier
	verifyToken string
	app         *App
	ctx         context.Context
	dedupe      Dedupe
	replayTTL   time.Duration
	logger      *zap.Logger
	route       routeLabel
	scope       claimScope
	// requests and verifyTime cache this handler's metric children.
	requests   labelCache[prometheus.Counter]
	verifyTime labelCache[prometheus.Observer]
	// nextForward reports, once provisioning is over, whether
	// webhook_forward follows in its route.
	nextForward func() bool
}

// Dedupe is the `dedupe` subdirective.
type Dedupe struct {
	// Mode is id, body, header, json or off.
	Mode string `json:"mode"`
	// Arg is the header name or JSON path.
	Arg    string         `json:"arg,omitempty"`
	Window caddy.Duration `json:"window,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*Verify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.webhook_verify",
		New: func() caddy.Module { return new(Verify) },
	}
}

// Provision resolves `{env.X}` and `{file.path}` placeholders in secrets and
// builds the verifier.
func (v *Verify) Provision(ctx caddy.Context) error {
	v.logger = ctx.Logger()
	v.ctx = ctx
	var parent caddy.Module // the module whose routes hold this handler
	if mods := ctx.Modules(); len(mods) >= 2 {
		parent = mods[len(mods)-2]
	}
	v.nextForward = sync.OnceValue(func() bool { return forwardFollows(parent, v) })
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	resolve := func(in []string) ([]string, error) {
		out := make([]string, 0, len(in))
		for _, s := range in {
			r, err := repl.ReplaceOrErr(s, true, true)
			if err != nil {
				return nil, fmt.Errorf("resolving a secret or key: %w", err)
			}
			out = append(out, strings.TrimSpace(r))
		}
		return out, nil
	}
	secrets, err := resolve(v.Secrets)
	if err != nil {
		return err
	}
	keys, err := resolve(v.PublicKeys)
	if err != nil {
		return err
	}
	opts := verify.Options{
		Secrets:         secrets,
		PublicKeys:      keys,
		KeyID:           repl.ReplaceAll(v.APIKey, ""),
		Header:          v.Header,
		Query:           v.Query,
		Algorithm:       v.Algorithm,
		Encoding:        v.Encoding,
		Prefix:          v.Prefix,
		Signed:          v.Signed,
		TimestampHeader: v.TimestampHeader,
		TimestampFormat: v.TimestampFormat,
		IDHeader:        v.IDHeader,
		TopicARNs:       v.TopicARNs,
		SNSHost:         v.SNSHost,
		Audience:        repl.ReplaceAll(v.Audience, ""),
		Email:           repl.ReplaceAll(v.Email, ""),
		JWKSURL:         v.JWKSURL,
	}
	v.verifyToken = repl.ReplaceAll(v.VerifyToken, "")
	if v.AutoConfirm && v.Provider != "sns" {
		return fmt.Errorf("webhook_verify %s: auto_confirm applies to provider sns only", v.Provider)
	}
	if v.Tolerance != nil {
		tol := time.Duration(*v.Tolerance)
		opts.Tolerance = &tol
	}
	v.verifier, err = verify.New(v.Provider, opts)
	if err != nil {
		return fmt.Errorf("webhook_verify %s: %w", v.Provider, err)
	}
	if v.MaxBody <= 0 {
		v.MaxBody = defaultMaxBody
	}
	v.dedupe = Dedupe{Mode: "body"}
	if v.verifier.HasEventID() {
		v.dedupe.Mode = "id"
	}
	if v.Dedupe != nil {
		v.dedupe = *v.Dedupe
	}
	if v.dedupe.Window == 0 {
		v.dedupe.Window = caddy.Duration(defaultDedupWindow)
	}
	v.replayTTL = time.Duration(v.ReplayTTL)
	if v.replayTTL == 0 {
		v.replayTTL = 2 * v.verifier.Tolerance()
	}
	if v.replayTTL == 0 {
		// A timestamped scheme with tolerance off still refuses replays.
		v.replayTTL = defaultDedupWindow
	}
	if v.dedupe.Mode != "off" || v.verifier.SignsTimestamp() {
		app, err := ctx.App("webhook_ingress")
		if err != nil {
			return err
		}
		v.app = app.(*App)
	}
	return nil
}

// Validate checks the options that Provision does not.
func (v *Verify) Validate() error {
	switch v.OnStoreError {
	case "", "reject", "allow":
	default:
		return fmt.Errorf("webhook_verify: on_store_error must be reject or allow, not %q", v.OnStoreError)
	}
	if err := v.dedupe.check(); err != nil {
		return fmt.Errorf("webhook_verify: %w", err)
	}
	if err := v.checkClaimOptions(v.verifier); err != nil {
		return fmt.Errorf("webhook_verify %s: %w", v.Provider, err)
	}
	return nil
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

// verified is what webhook_verify hands to webhook_forward through the
// request context: the body it read and the claim that the enqueue commits.
type verified struct {
	id       string
	provider string
	body     []byte
	claim    *store.Claim // nil when nothing was claimed
	// store took the claim; it finishes it even if the app stops meanwhile
	// (a reload), since the next config shares the same store.
	store store.Store
	// handoff, when set, is the webhook_verify that left its claim to the
	// webhook_forward right after it: claim, enqueue and commit are one
	// call of store (a ClaimEnqueuer), and forward answers a refused claim
	// as verify would.
	handoff *Verify
	// committed is set by webhook_forward when the enqueue committed claim;
	// refused when it answered a refused handed-off claim.
	committed, refused bool
}

type verifiedKey struct{}

func verifiedFrom(r *http.Request) *verified {
	vr, _ := r.Context().Value(verifiedKey{}).(*verified)
	return vr
}

func (v *Verify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if v.app != nil {
		v.app.ingesting.Add(1)
		defer v.app.ingesting.Add(-1)
	}
	if r.Method == http.MethodGet {
		req := &verify.Request{Method: r.Method, URL: v.signedURL(r), Header: r.Header, Now: time.Now()}
		if ans, ok := v.verifier.HandshakeGET(req, v.verifyToken); ok {
			return v.answerHandshake(w, r, ans)
		}
	}
	if r.Method != http.MethodPost {
		return v.reject(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "", nil)
	}
	body, err := readBody(w, r, v.MaxBody)
	if tooLarge(err) {
		return v.reject(w, r, http.StatusRequestEntityTooLarge, "body_too_large", "", nil)
	}
	if err != nil {
		// The sender went away mid-body; Caddy's error handling answers.
		return caddyhttp.Error(http.StatusBadRequest, err)
	}

	start := time.Now()
	req := &verify.Request{Method: r.Method, URL: v.signedURL(r), Header: r.Header, Body: body, Now: start}
	res, err := v.verifier.Verify(req)
	v.verifyTime.get(v.Provider, func(p string) prometheus.Observer { return verifyDuration.WithLabelValues(p) }).Observe(time.Since(start).Seconds())
	if err != nil {
		switch {
		case errors.Is(err, verify.ErrKeyUnavailable):
			// Not judged: the sender's retry may find the key.
			w.Header().Set("Retry-After", retryAfterSeconds)
			return v.reject(w, r, http.StatusServiceUnavailable, "key_unavailable", "", err)
		case errors.Is(err, verify.ErrTimestamp):
			return v.reject(w, r, http.StatusUnauthorized, "timestamp_out_of_tolerance", "", nil)
		}
		return v.reject(w, r, http.StatusUnauthorized, "invalid_signature", "", nil)
	}
	// Handshakes are answered here, after their signature was checked, and
	// never deduplicated, queued or passed on.
	if ans, ok := v.verifier.Handshake(req); ok {
		return v.answerHandshake(w, r, ans)
	}

	id := res.ID
	if id == "" {
		id = bodyHash(body)
	}
	vr := &verified{id: id, provider: v.Provider, body: body}

	claim, err := v.claimFor(r, res, id, body)
	if err != nil {
		return v.reject(w, r, http.StatusBadRequest, "dedup_key_missing", id, err)
	}
	if claim != nil {
		st, err := v.app.Store()
		if err == nil && v.handsOff(st) {
			vr.claim, vr.store, vr.handoff = claim, st, v
			return v.passOn(w, r, next, vr)
		}
		var outcome store.Outcome
		if err == nil {
			outcome, err = v.claim(r.Context(), st, claim)
		}
		if err != nil && v.OnStoreError == "allow" {
			v.logger.Warn("store unavailable; request passed on without replay and dedup checks",
				zap.String("provider", v.Provider), zap.String("id", id), zap.Error(err))
			return v.passOn(w, r, next, vr)
		}
		if err != nil || outcome != store.Claimed {
			return v.refuse(w, r, id, outcome, err)
		}
		vr.claim, vr.store = claim, st
	}

	return v.passOn(w, r, next, vr)
}

// handsOff reports whether the claim is left to the webhook_forward that
// follows, when st can claim and enqueue in one call: one round trip
// instead of two. With on_store_error allow verify keeps the claim, so
// that a store error still passes the request on.
func (v *Verify) handsOff(st store.Store) bool {
	if v.OnStoreError == "allow" || !v.nextForward() {
		return false
	}
	_, ok := st.(store.ClaimEnqueuer)
	return ok
}

// refuse answers a claim that failed (err) or was refused (outcome).
func (v *Verify) refuse(w http.ResponseWriter, r *http.Request, id string, outcome store.Outcome, err error) error {
	switch {
	case err != nil:
		w.Header().Set("Retry-After", retryAfterSeconds)
		return v.reject(w, r, http.StatusServiceUnavailable, "store_unavailable", id, err)
	case outcome == store.Replayed:
		return v.reject(w, r, http.StatusConflict, "replayed", id, nil)
	case outcome == store.InProgress:
		w.Header().Set("Retry-After", retryAfterSeconds)
		return v.reject(w, r, http.StatusConflict, "in_progress", id, nil)
	case outcome == store.Duplicate:
		v.count(r, "duplicate")
		writeStatus(w, http.StatusOK, id, "duplicate")
		return nil
	}
	return fmt.Errorf("unexpected claim outcome %v", outcome)
}

// forwardFollows reports whether h is followed, in its route, by a
// webhook_forward: Caddy runs a route's handlers one after the other, so
// that one is next for every request. Handlers elsewhere (the end of a
// route, where matchers pick what comes next, or routes of other modules)
// report false and keep the claim.
func forwardFollows(parent caddy.Module, h caddyhttp.MiddlewareHandler) bool {
	var lists []caddyhttp.RouteList
	switch p := parent.(type) {
	case *caddyhttp.Subroute:
		lists = append(lists, p.Routes)
		if p.Errors != nil {
			lists = append(lists, p.Errors.Routes)
		}
	case *caddyhttp.App:
		for _, srv := range p.Servers {
			lists = append(lists, srv.Routes)
			if srv.Errors != nil {
				lists = append(lists, srv.Errors.Routes)
			}
			for _, route := range srv.NamedRoutes {
				lists = append(lists, caddyhttp.RouteList{*route})
			}
		}
	}
	for _, routes := range lists {
		for _, route := range routes {
			for i, handler := range route.Handlers {
				if handler == h && i+1 < len(route.Handlers) {
					_, ok := route.Handlers[i+1].(*Forward)
					return ok
				}
			}
		}
	}
	return false
}

// passOn hands the request to the next handler and commits the claim when it
// answers 2xx, releasing it otherwise (also on panic) so a retry goes through.
func (v *Verify) passOn(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, vr *verified) (err error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		repl.Set("http.webhook.id", vr.id)
		repl.Set("http.webhook.provider", vr.provider)
	}
	stripCredentials(r, v.verifier)
	r.Header.Set("Webhook-Id", vr.id)
	r.Header.Set("Webhook-Provider", vr.provider)
	r.Body = io.NopCloser(bytes.NewReader(vr.body))
	r.ContentLength = int64(len(vr.body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(vr.body)), nil }
	r = r.WithContext(context.WithValue(r.Context(), verifiedKey{}, vr))

	defer func() {
		switch {
		case vr.refused: // counted by the answer
		case vr.committed:
			v.count(r, "accepted")
		default:
			v.count(r, "passed")
		}
	}()
	// A handed-off claim is taken, queued and committed by webhook_forward
	// in one step: nothing is left to commit or release here.
	if vr.claim == nil || vr.handoff != nil {
		return next.ServeHTTP(w, r)
	}
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	succeeded := false
	defer func() {
		if vr.committed {
			return
		}
		if succeeded {
			// The answer need not wait for the commit: until it lands, a
			// duplicate sees the claim and is told the event is in progress.
			v.app.background(func() { v.finishClaim(vr, true) })
			return
		}
		// Released before answering, so that the sender's retry goes through.
		v.finishClaim(vr, false)
	}()
	err = next.ServeHTTP(rec, r)
	status := rec.Status()
	if status == 0 && err == nil {
		status = http.StatusOK
	}
	succeeded = err == nil && status >= 200 && status < 300
	return err
}

// finishClaim commits or releases a claim. The request context ends with the
// response; the store call must not.
func (v *Verify) finishClaim(vr *verified, commit bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	start := time.Now()
	if commit {
		err = vr.store.Commit(ctx, *vr.claim)
		observeStore("commit", start)
	} else {
		err = vr.store.Release(ctx, *vr.claim)
		observeStore("release", start)
	}
	if err != nil {
		v.logger.Error("store: finishing claim", zap.Bool("commit", commit),
			zap.String("provider", vr.provider), zap.String("id", vr.id), zap.Error(err))
	}
}

// answerHandshake sends a provider's handshake answer. An SNS subscription
// is confirmed by fetching its SubscribeURL when auto_confirm is on, else
// logged with the URL to visit.
func (v *Verify) answerHandshake(w http.ResponseWriter, r *http.Request, ans *verify.HandshakeAnswer) error {
	v.count(r, "handshake")
	fields := []zap.Field{zap.String("route", requestRoute(r)), zap.String("provider", v.Provider)}
	if ans.Note != "" {
		fields = append(fields, zap.String("note", ans.Note))
	}
	switch {
	case ans.ConfirmURL != "" && v.AutoConfirm:
		go v.confirmSubscription(ans.ConfirmURL)
		v.logger.Info("handshake answered; confirming the subscription", fields...)
	case ans.ConfirmURL != "":
		v.logger.Warn("SNS subscription awaits confirmation: visit the URL, or set auto_confirm",
			append(fields, zap.String("subscribe_url", ans.ConfirmURL))...)
	case ans.Note == "SubscriptionConfirmation":
		v.logger.Warn("SNS SubscribeURL refused: not https or not an allowed host (see sns_host)", fields...)
	default:
		v.logger.Info("handshake answered", fields...)
	}
	for k, vals := range ans.Header {
		w.Header()[k] = vals
	}
	if ans.ContentType != "" {
		w.Header().Set("Content-Type", ans.ContentType)
	}
	w.WriteHeader(ans.Status)
	_, err := w.Write(ans.Body)
	return err
}

// confirmSubscription fetches an SNS SubscribeURL (already checked to be
// https on an allowed host) with the config's context, not the request's,
// under the policy of every remote fetch (no redirects, bounded time and
// size).
func (v *Verify) confirmSubscription(subscribeURL string) {
	if _, err := verify.Fetch(v.ctx, nil, subscribeURL, verify.RemoteMaxBytes); err != nil {
		v.logger.Error("SNS subscription not confirmed", zap.String("subscribe_url", subscribeURL), zap.Error(err))
		return
	}
	v.logger.Info("SNS subscription confirmed", zap.String("subscribe_url", subscribeURL))
}

func (v *Verify) claim(ctx context.Context, st store.Store, c *store.Claim) (store.Outcome, error) {
	start := time.Now()
	outcome, err := st.Claim(ctx, *c)
	observeStore("claim", start)
	return outcome, err
}

// signedURL is the URL the sender signed: the configured public URL (with
// the request's query) or the request's own.
func (v *Verify) signedURL(r *http.Request) string {
	if v.URL != "" {
		if r.URL.RawQuery != "" && !strings.Contains(v.URL, "?") {
			return v.URL + "?" + r.URL.RawQuery
		}
		return v.URL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// reject answers with the documented status and JSON error and logs one line,
// with nothing of the secret or the expected signature.
func (v *Verify) reject(w http.ResponseWriter, r *http.Request, status int, reason, id string, cause error) error {
	fields := []zap.Field{
		zap.String("route", requestRoute(r)),
		zap.String("provider", v.Provider),
		zap.String("reason", reason),
		zap.String("remote", r.RemoteAddr),
	}
	if id != "" {
		fields = append(fields, zap.String("id", id))
	}
	if cause != nil {
		fields = append(fields, zap.Error(cause))
	}
	v.logger.Info("webhook rejected", fields...)
	v.count(r, metricOutcomes[reason])
	writeError(w, status, reason)
	return nil
}

// metricOutcomes maps the error a sender sees to its metric outcome.
var metricOutcomes = map[string]string{
	"method_not_allowed":         "method_not_allowed",
	"body_too_large":             "too_large",
	"invalid_signature":          "invalid_signature",
	"timestamp_out_of_tolerance": "stale",
	"dedup_key_missing":          "invalid_request",
	"store_unavailable":          "store_unavailable",
	"key_unavailable":            "key_unavailable",
	"replayed":                   "replayed",
	"in_progress":                "in_progress",
}

func (v *Verify) count(r *http.Request, outcome string) {
	v.requests.get(outcome, func(outcome string) prometheus.Counter {
		return requestsTotal.WithLabelValues(v.route.get(r, v.Name, v), v.Provider, outcome)
	}).Inc()
}

// readBody reads the whole body once, bounded by max; a declared length over
// max is refused before anything is read. The buffer grows with the bytes
// that arrive, never ahead of them: a declared length is a claim, and
// thousands of senders each declaring max_body and sending one byte must
// not reserve max_body each.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, &http.MaxBytesError{Limit: max}
	}
	body := http.MaxBytesReader(w, r.Body, max)
	defer body.Close()
	declared := r.ContentLength
	size := int64(bodyChunk)
	if declared >= 0 && declared < bodyChunk {
		size = declared
	}
	buf := make([]byte, 0, size)
	for {
		if declared >= 0 && int64(len(buf)) == declared {
			// net/http ends the body at Content-Length and fails a shorter one.
			return buf, nil
		}
		if len(buf) == cap(buf) {
			// Double what has arrived, but never past the declared end:
			// the last step of a body of known length is then exact.
			grown := 2 * int64(cap(buf))
			if declared >= 0 {
				grown = min(grown, declared)
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// bodyChunk is readBody's first allocation for a body of unknown or larger
// length: what a sender that declares much and sends little costs, the size
// of the buffer net/http already keeps for each connection. Larger bodies
// double it as their bytes arrive.
const bodyChunk = 4 << 10

// writeError answers with the documented JSON error.
// tooLarge reports whether a body read stopped at the size limit.
func tooLarge(err error) bool {
	if err == nil {
		return false // the usual case, without errors.As's allocation
	}
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, `{"error":`+jsonString(reason)+"}\n")
}

// writeStatus answers {"id":...,"status":...}: accepted or duplicate.
func writeStatus(w http.ResponseWriter, status int, id, state string) {
	writeJSON(w, status, `{"id":`+jsonString(id)+`,"status":`+jsonString(state)+"}\n")
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// jsonString quotes s as a JSON string; ids come from senders, so they are
// escaped like any other input. Ids that need no escaping (the usual case)
// skip the encoder.
func jsonString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return string(b)
		}
	}
	return `"` + s + `"`
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Verify)(nil)
	_ caddy.Validator             = (*Verify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Verify)(nil)
)
