package webhookingress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// fakeStore records the claim and queue calls made to it, from the
// request's goroutine and from the app's background commits; Claim answers
// outcome.
type fakeStore struct {
	store.Store // the calls not made here
	outcome     store.Outcome

	mu    sync.Mutex
	calls []string
}

func (s *fakeStore) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *fakeStore) made() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *fakeStore) Claim(context.Context, store.Claim) (store.Outcome, error) {
	s.record("claim")
	return s.outcome, nil
}

func (s *fakeStore) Commit(context.Context, store.Claim) error {
	s.record("commit")
	return nil
}

func (s *fakeStore) Release(context.Context, store.Claim) error {
	s.record("release")
	return nil
}

func (s *fakeStore) Enqueue(_ context.Context, c store.Claim, _ []string, _ store.Event) error {
	s.record("enqueue committing " + c.Key)
	return nil
}

// fakeClaimEnqueuer takes a claim and enqueues in one call, as Redis does.
type fakeClaimEnqueuer struct{ *fakeStore }

func (s fakeClaimEnqueuer) ClaimEnqueue(_ context.Context, c store.Claim, _ []string, _ store.Event) (store.Outcome, error) {
	s.record("claim+enqueue " + c.Key)
	return s.outcome, nil
}

// terminal is a handler that ends its route, as reverse_proxy does.
type terminal func(w http.ResponseWriter, r *http.Request) error

func (f terminal) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return f(w, r)
}

const handoffSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// serveRoute sends a signed Standard Webhooks event through a route of a
// webhook_verify, whose app's store is st, and next, as Caddy's server
// would, and returns the answer, the error ServeHTTP returned, and the
// calls the store got before the answer and once the app's background
// commits are done. A panic of next is recovered and returned as the error.
// setup, when given, adjusts the app and the request before it is served.
func serveRoute(t *testing.T, st store.Store, calls func() []string, next caddyhttp.MiddlewareHandler,
	setup ...func(*App, *http.Request)) (rec *httptest.ResponseRecorder, err error, before, after []string) {
	t.Helper()
	opts := verify.Options{Secrets: []string{handoffSecret}}
	vf, err := verify.New("standard", opts)
	if err != nil {
		t.Fatal(err)
	}
	app := &App{store: st, logger: zap.NewNop()}
	v := &Verify{
		VerifyOptions: VerifyOptions{Provider: "standard", Name: t.Name(), Scope: "test", MaxBody: defaultMaxBody},
		verifier:      vf, app: app, logger: zap.NewNop(),
		dedupe: Dedupe{Mode: "id", Window: caddy.Duration(time.Hour)}, replayTTL: 10 * time.Minute,
	}
	if f, ok := next.(*Forward); ok {
		f.app, f.logger = app, zap.NewNop()
	}
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{v, next}}}}

	body := []byte(`{"type":"render.done","id":"r1"}`)
	header, _, err := verify.Sign("standard", opts, verify.SignRequest{Body: body, ID: "msg_1", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, srv)
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://hooks.example/hooks", bytes.NewReader(body))
	r.Header = header
	for _, f := range setup {
		f(app, r)
	}
	rec = httptest.NewRecorder()
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = errors.New("panic: " + p.(string))
			}
		}()
		return v.ServeHTTP(rec, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return next.ServeHTTP(w, r, nil)
		}))
	}()
	before = calls()
	app.pending.Wait()
	return rec, err, before, calls()
}

// answering is a next handler that answers status when webhook_verify
// passed the request on whole (its body, a Webhook-Id), else 400.
func answering(status int) terminal {
	return func(w http.ResponseWriter, r *http.Request) error {
		if b, _ := io.ReadAll(r.Body); !bytes.Contains(b, []byte("render.done")) || r.Header.Get("Webhook-Id") != "msg_1" {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		return nil
	}
}

// outcomeCount is requests_total of the route that t's handler is named
// after, for outcome.
func outcomeCount(t *testing.T, outcome string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(requestsTotal)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range families {
		for _, m := range family.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == t.Name() && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// The claim webhook_verify takes is committed when the next handler
// answers 2xx, after the answer, and released before the answer on any
// other status, an error or a panic.
func TestVerifyFinishesItsClaim(t *testing.T) {
	tests := []struct {
		name          string
		next          terminal
		status        int
		err           string
		before, after []string
	}{
		{"2xx commits", answering(http.StatusOK), http.StatusOK, "",
			[]string{"claim"}, []string{"claim", "commit"}},
		{"5xx releases", answering(http.StatusBadGateway), http.StatusBadGateway, "",
			[]string{"claim", "release"}, []string{"claim", "release"}},
		{"an error releases", func(http.ResponseWriter, *http.Request) error {
			return caddyhttp.Error(http.StatusBadGateway, errors.New("upstream down"))
		}, http.StatusOK, "upstream down", []string{"claim", "release"}, []string{"claim", "release"}},
		{"a panic releases", func(http.ResponseWriter, *http.Request) error {
			panic("next handler failed")
		}, http.StatusOK, "panic: next handler failed", []string{"claim", "release"}, []string{"claim", "release"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{outcome: store.Claimed}
			// Even with a store that could take the hand-off: only a
			// webhook_forward next takes it.
			rec, err, before, after := serveRoute(t, fakeClaimEnqueuer{st}, st.made, tt.next)
			if rec.Code != tt.status || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("answered %d, error %v; want %d, error %q", rec.Code, err, tt.status, tt.err)
			}
			if !slices.Equal(before, tt.before) || !slices.Equal(after, tt.after) {
				t.Errorf("store calls %q before the answer, %q after; want %q, %q", before, after, tt.before, tt.after)
			}
			if got := outcomeCount(t, "passed"); got != 1 {
				t.Errorf("outcome passed counted %v times, want 1", got)
			}
		})
	}
}

// A webhook_forward right after webhook_verify takes the claim over: the
// store takes it and enqueues in one call, and a refused claim is answered
// as webhook_verify answers it. Without a store that can, verify claims and
// the enqueue commits.
func TestHandoffToForward(t *testing.T) {
	const key = "id:msg_1"
	tests := []struct {
		name      string
		enqueuer  bool
		outcome   store.Outcome
		status    int
		answer    string
		calls     []string
		counted   string
		notCalled string
	}{
		{"claimed", true, store.Claimed, http.StatusAccepted, `{"id":"msg_1","status":"accepted"}`,
			[]string{"claim+enqueue " + key}, "accepted", "passed"},
		{"duplicate", true, store.Duplicate, http.StatusOK, `{"id":"msg_1","status":"duplicate"}`,
			[]string{"claim+enqueue " + key}, "duplicate", "accepted"},
		{"replayed", true, store.Replayed, http.StatusConflict, `{"error":"replayed"}`,
			[]string{"claim+enqueue " + key}, "replayed", "passed"},
		{"in progress", true, store.InProgress, http.StatusConflict, `{"error":"in_progress"}`,
			[]string{"claim+enqueue " + key}, "in_progress", "passed"},
		{"no claim+enqueue", false, store.Claimed, http.StatusAccepted, `{"id":"msg_1","status":"accepted"}`,
			[]string{"claim", "enqueue committing " + key}, "accepted", "passed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeStore{outcome: tt.outcome}
			var st store.Store = fake
			if tt.enqueuer {
				st = fakeClaimEnqueuer{fake}
			}
			rec, err, before, after := serveRoute(t, st, fake.made, &Forward{Destinations: []string{"http://billing.internal/events"}})
			if err != nil || rec.Code != tt.status || strings.TrimSpace(rec.Body.String()) != tt.answer {
				t.Errorf("answered %d %q, error %v; want %d %s", rec.Code, rec.Body, err, tt.status, tt.answer)
			}
			if !slices.Equal(before, tt.calls) || !slices.Equal(after, tt.calls) {
				t.Errorf("store calls %q before the answer, %q after; want %q", before, after, tt.calls)
			}
			if got := outcomeCount(t, tt.counted); got != 1 {
				t.Errorf("outcome %s counted %v times, want 1", tt.counted, got)
			}
			if got := outcomeCount(t, tt.notCalled); got != 0 {
				t.Errorf("outcome %s counted %v times, want 0", tt.notCalled, got)
			}
		})
	}
}
