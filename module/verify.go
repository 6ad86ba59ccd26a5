package webhookingress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	VerifyOptions

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
	// forward tells whether webhook_forward follows in the route.
	forward forwardNext
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
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	resolve := func(s string) (string, error) {
		r, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return "", fmt.Errorf("resolving a secret or key: %w", err)
		}
		return strings.TrimSpace(r), nil
	}
	cfg, err := v.verifyConfig(resolve)
	if err != nil {
		return fmt.Errorf("webhook_verify %s: %w", v.Provider, err)
	}
	if v.verifyToken, err = resolve(v.Facebook.VerifyToken); err != nil {
		return fmt.Errorf("webhook_verify %s: verify_token: %w", v.Provider, err)
	}
	v.verifier, err = verify.New(v.Provider, cfg)
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
	// A route that claims nothing needs no store, so it loads the app only
	// when the config has one: for its event log.
	load := ctx.AppIfConfigured
	if v.dedupe.Mode != "off" || v.verifier.SignsTimestamp() {
		load = ctx.App
	}
	app, err := load("webhook_ingress")
	if err != nil && !errors.Is(err, caddy.ErrNotConfigured) {
		return err
	}
	if app != nil {
		v.app = app.(*App)
	}
	return nil
}

// Validate checks the options against the verifier Provision built.
func (v *Verify) Validate() error {
	if err := v.check(v.verifier); err != nil {
		return fmt.Errorf("webhook_verify %s: %w", v.Provider, err)
	}
	return nil
}

func (v *Verify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Method == http.MethodGet {
		req := &verify.Request{Method: r.Method, URL: v.signedURL(r), Header: r.Header, Now: time.Now()}
		if ans, ok := v.verifier.HandshakeGET(req, v.verifyToken); ok {
			if ans.Status >= http.StatusBadRequest {
				// Refused for its verify token (Meta's): a forged handshake
				// is a rejection, counted as a bad signature is, so that
				// alerts on rejections see it.
				return v.reject(w, r, ans.Status, "invalid_verify_token", "", errors.New(ans.Note))
			}
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
	if v.app != nil {
		v.app.ingest.add()
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
	h := &handoff{id: id, provider: v.Provider, body: body, received: start, scope: v.scope.get(r, v),
		lazyFields: lazyFields{verifier: v.verifier, req: req}}

	claim, err := v.claimFor(r, res, id, body)
	if err != nil {
		return v.reject(w, r, http.StatusBadRequest, "dedup_key_missing", id, err)
	}
	if claim != nil {
		st, err := v.app.Store()
		if err == nil && v.handsOff(r, st) {
			h.claim, h.store, h.takeover = claim, st, v
			return v.passOn(w, r, next, h)
		}
		var outcome store.Outcome
		if err == nil {
			outcome, err = v.claim(r.Context(), st, claim)
		}
		if err != nil && v.OnStoreError == "allow" {
			v.logger.Warn("store unavailable; request passed on without replay and dedup checks",
				zap.String("provider", v.Provider), zap.String("id", id), zap.Error(err))
			return v.passOn(w, r, next, h)
		}
		if err != nil || outcome != store.Claimed {
			return v.refuse(w, r, id, outcome, err)
		}
		h.claim, h.store = claim, st
	}

	return v.passOn(w, r, next, h)
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
	case ans.ConfirmURL != "" && v.SNS.AutoConfirm:
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
	"invalid_verify_token":       "invalid_signature",
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

// tooLarge reports whether a body read stopped at the size limit.
func tooLarge(err error) bool {
	if err == nil {
		return false // the usual case, without errors.As's allocation
	}
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// writeError answers with the documented JSON error.
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
