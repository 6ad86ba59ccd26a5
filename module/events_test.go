package webhookingress

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// fakeEventLog keeps the batches written to it.
type fakeEventLog struct {
	store.EventLog // the calls not made here
	mu             sync.Mutex
	batches        []store.EventBatch
	fail           error // RecordEvents's answer while set; nothing is kept
}

func (l *fakeEventLog) RecordEvents(_ context.Context, b store.EventBatch) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	// The recorder reuses a batch's slices once written.
	b.Records, b.Attempts = slices.Clone(b.Records), slices.Clone(b.Attempts)
	l.batches = append(l.batches, b)
	return nil
}

func (l *fakeEventLog) written() (recs []store.EventRecord, atts []store.EventAttempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		recs = append(recs, b.Records...)
		atts = append(atts, b.Attempts...)
	}
	return recs, atts
}

// withEventLog gives the app a recorder writing to log once flushed.
func withEventLog(log *fakeEventLog) func(*App, *http.Request) {
	return func(a *App, _ *http.Request) {
		a.events.Store(&recorder{log: log, retain: time.Hour, logger: zap.NewNop(), wake: make(chan struct{}, 1),
			full: make(chan struct{}, 1)})
	}
}

// Every answered event is recorded once: passed on in sync with the next
// handler's status, queued with its destinations masked, and under the key
// the deliverer computes from the queued event. A refused one is not.
func TestAnsweredEventsAreRecorded(t *testing.T) {
	tests := []struct {
		name   string
		next   func() *Forward // nil: a sync handler answering status
		status int
		out    store.Outcome
		state  string
		answer int
	}{
		{"sync 2xx", nil, http.StatusOK, store.Claimed, store.StatePassed, 200},
		{"sync 5xx", nil, http.StatusBadGateway, store.Claimed, store.StateFailed, 502},
		{"queued", func() *Forward {
			f := &Forward{Destinations: []string{"http://user:pw@billing.internal/events"}}
			_ = f.provisionFilters() // masks them, as Provision does
			return f
		}, 0, store.Claimed, store.StateQueued, 202},
		{"duplicate", func() *Forward { return &Forward{Destinations: []string{"http://billing.internal/events"}} },
			0, store.Duplicate, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &fakeEventLog{}
			fake := &fakeStore{outcome: tt.out}
			var app *App
			setup := func(a *App, r *http.Request) {
				withEventLog(log)(a, r)
				app = a
				r.Header.Set(deliver.ReplayHeader, "forged")
				r.Header.Set("X-Trace", "t-1")
			}
			var next caddyhttp.MiddlewareHandler = answering(tt.status)
			var st store.Store = fake
			if tt.next != nil {
				next, st = tt.next(), fakeClaimEnqueuer{fake}
			}
			rec, err, _, _ := serveRoute(t, st, fake.made, next, setup)
			if err != nil {
				t.Fatal(err)
			}
			app.events.Load().flush()
			recs, _ := log.written()
			if tt.state == "" {
				if len(recs) != 0 {
					t.Fatalf("a refused event was recorded: %+v", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("recorded %d records, want 1 (answer %d)", len(recs), rec.Code)
			}
			r := recs[0]
			if r.State != tt.state || r.Answer != tt.answer || r.ID != "msg_1" || r.Provider != "standard" ||
				r.Scope != "test" || r.Type != "render.done" || string(r.Body) != `{"type":"render.done","id":"r1"}` ||
				r.Key != store.EventKey(r.ReceivedAt, "standard", "msg_1") {
				t.Fatalf("recorded %+v", r)
			}
			if r.Header.Get("X-Trace") != "t-1" || r.Header.Get(deliver.ReplayHeader) != "" || r.Header.Get("Webhook-Id") != "" {
				t.Fatalf("recorded headers %v: want the sender's end-to-end ones, no replay mark", r.Header)
			}
			if tt.next != nil && (len(r.Destinations) != 1 || r.Destinations[0] != "http://xxxxx@billing.internal/events") {
				t.Fatalf("destinations %q: want the URL with its credentials masked", r.Destinations)
			}
		})
	}
}

// An attempt names the record of its event: the one it replays, or the
// one the event's arrival, provider and id name.
func TestAttemptsNameTheirRecord(t *testing.T) {
	log := &fakeEventLog{}
	a := &App{}
	withEventLog(log)(a, nil)
	received := time.Now()
	a.recordAttempt(deliver.Outcome{EventID: "e1", Provider: "mux", ReceivedAt: received, Result: deliver.ResultRetry,
		Status: 503, Err: "status 503", Destination: "http://svc/", Attempt: 1})
	a.recordAttempt(deliver.Outcome{EventID: "e1", Provider: "mux", ReceivedAt: time.Now(), ReplayOf: "0123456789abcdef01234567",
		Result: deliver.ResultDelivered, Status: 200, Attempt: 1})
	a.events.Load().flush()
	_, atts := log.written()
	if len(atts) != 2 {
		t.Fatalf("attempts %+v", atts)
	}
	if atts[0].Key != store.EventKey(received, "mux", "e1") || atts[0].Result != store.StateRetrying ||
		atts[0].Error != "status 503" || atts[0].Replay {
		t.Errorf("first attempt %+v", atts[0])
	}
	if atts[1].Key != "0123456789abcdef01234567" || atts[1].Result != store.StateDelivered || !atts[1].Replay {
		t.Errorf("replay attempt %+v", atts[1])
	}
}

// Records wait for the writer within bounds: past them a record is
// dropped and counted, never waited for.
func TestRecorderBoundsWhatWaits(t *testing.T) {
	log := &fakeEventLog{}
	a := &App{}
	withEventLog(log)(a, nil)
	before := unrecorded()
	h := &handoff{id: "big", provider: "mux", body: make([]byte, maxPendingBytes/4), received: time.Now()}
	for range 5 {
		a.recordAnswered(h, http.StatusOK, nil, false)
	}
	if got := unrecorded() - before; got != 2 {
		t.Errorf("dropped %v records of 5 of a quarter of the byte bound each, want 2", got)
	}
	a.events.Load().flush()
	if recs, _ := log.written(); len(recs) != 3 {
		t.Errorf("wrote %d records, want 3", len(recs))
	}
	for range maxPendingEvents + 10 {
		a.recordAttempt(deliver.Outcome{EventID: "e", Result: deliver.ResultDelivered})
	}
	if got := unrecorded() - before; got != 12 {
		t.Errorf("dropped %v in all, want 12", got)
	}
}

func unrecorded() float64 {
	var m dto.Metric
	_ = eventsUnrecorded.Write(&m)
	return m.GetCounter().GetValue()
}

func TestRetainCaddyfile(t *testing.T) {
	for in, want := range map[string][2]int64{
		"retain 72h":                    {int64(72 * time.Hour), 0},
		"retain 7d\n\tretain_size 2GiB": {int64(7 * 24 * time.Hour), 2 << 30},
		"retain off":                    {0, 0},
		"retain_size 500MB":             {0, 500_000_000},
	} {
		v, err := parseGlobalOption(caddyfile.NewTestDispenser("webhook_ingress {\n\t"+in+"\n}"), nil)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var app App
		if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
			t.Fatal(err)
		}
		if got := [2]int64{int64(app.Retain), app.RetainSize}; got != want {
			t.Errorf("%q: retain, retain_size %v, want %v", in, got, want)
		}
	}
	for in, says := range map[string]string{
		"retain":              "argument",
		"retain forever":      "retain must be",
		"retain 0s":           "retain must be",
		"retain -1h":          "retain must be",
		"retain 1h 2h":        "argument",
		"retain_size lots":    "retain_size must be",
		"retain_size 0":       "retain_size must be",
		"retain_size 1GB 2GB": "argument",
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("webhook_ingress {\n\t"+in+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: want an error saying %q, got %v", in, says, err)
		}
	}
}

// A write that fails costs its records, counted and logged once for the
// outage, not once per batch; the next write goes through. Once the writer
// has stopped (a reload), a record is written by its caller.
func TestRecorderWriteFailures(t *testing.T) {
	log := &fakeEventLog{fail: errors.New("redis down")}
	core, logs := observer.New(zap.InfoLevel)
	a := &App{}
	withEventLog(log)(a, nil)
	rec := a.events.Load()
	rec.logger = zap.New(core)
	before := unrecorded()
	h := &handoff{id: "e1", provider: "mux", body: []byte("{}"), received: time.Now()}
	for range 2 {
		a.recordAnswered(h, http.StatusOK, nil, false)
		a.recordAttempt(deliver.Outcome{EventID: "e1", Result: deliver.ResultDelivered})
		rec.flush()
	}
	if got := unrecorded() - before; got != 4 {
		t.Errorf("unrecorded %v after two failed batches of 2, want 4", got)
	}
	if n := logs.FilterMessageSnippet("not written").Len(); n != 1 {
		t.Errorf("the outage logged %d times, want once", n)
	}
	log.mu.Lock()
	log.fail = nil
	log.mu.Unlock()
	a.recordAnswered(h, http.StatusOK, nil, false)
	rec.flush()
	if recs, _ := log.written(); len(recs) != 1 || logs.FilterMessageSnippet("writing again").Len() != 1 {
		t.Errorf("after the outage: %d records written, logs %v", len(recs), logs.All())
	}

	rec.mu.Lock()
	rec.stopped = true
	rec.mu.Unlock()
	a.recordAnswered(h, http.StatusOK, nil, false)
	if recs, _ := log.written(); len(recs) != 2 {
		t.Errorf("after the writer stopped: %d records written, want the caller's too", len(recs))
	}
}
