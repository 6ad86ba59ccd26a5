package webhookingress

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// listedEventLog holds records newest first and answers pages of at most
// pageSize (when set) with a Next cursor, as a store's scan bound does.
type listedEventLog struct {
	records  []store.EventRecord
	pageSize int

	mu      sync.Mutex
	filters []store.EventFilter // every ListEvents call's
}

func (l *listedEventLog) RecordEvents(context.Context, store.EventBatch) error { return nil }

func (l *listedEventLog) ExpireEvents(context.Context, time.Time, int64) error { return nil }

func (l *listedEventLog) ListEvents(_ context.Context, f store.EventFilter) (store.EventPage, error) {
	l.mu.Lock()
	l.filters = append(l.filters, f)
	l.mu.Unlock()
	var page store.EventPage
	examined, last := 0, ""
	for _, r := range l.records {
		if f.Cursor != "" && r.Key >= f.Cursor {
			continue
		}
		if len(page.Events) == f.Limit || l.pageSize > 0 && examined == l.pageSize {
			page.Next = last
			break
		}
		examined, last = examined+1, r.Key
		if f.Matches(&r) {
			r.Header, r.Body, r.Log = nil, nil, nil
			page.Events = append(page.Events, r)
		}
	}
	return page, nil
}

func (l *listedEventLog) ReadEvent(_ context.Context, ref string) (*store.EventRecord, error) {
	for _, r := range l.records {
		if r.Key == ref || r.ID == ref {
			return &r, nil
		}
	}
	return nil, nil
}

func (l *listedEventLog) lastFilter() store.EventFilter {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.filters[len(l.filters)-1]
}

// fakeQueue records what is enqueued; Enqueue fails with err when set.
type fakeQueue struct {
	store.Store
	err error

	mu       sync.Mutex
	enqueued []enqueued
}

type enqueued struct {
	claim store.Claim
	dests []string
	ev    store.Event
}

func (q *fakeQueue) Enqueue(_ context.Context, c store.Claim, dests []string, ev store.Event) error {
	if q.err != nil {
		return q.err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueued = append(q.enqueued, enqueued{c, slices.Clone(dests), ev})
	return nil
}

func (q *fakeQueue) calls() []enqueued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.enqueued)
}

const (
	credHook  = "http://hookuser:s3cr3tpass@hooks.internal/in"
	plainHook = "http://audit.internal/in"
)

// eventAt is a record of provider and id received ago before now.
func eventAt(ago time.Duration, provider, id string, async bool) store.EventRecord {
	at := time.Now().Add(-ago)
	r := store.EventRecord{Key: store.EventKey(at, provider, id), ID: id, Provider: provider, Scope: "route",
		Type: "video.asset.ready", Async: async, ReceivedAt: at, Answer: 200, State: store.StatePassed,
		BodySize: 9, Header: http.Header{"Webhook-Signature": {"v1,sig"}}, Body: []byte(`{"id":"x"}`)}
	if async {
		r.Answer, r.State, r.Destinations = 202, store.StateDelivered, []string{"http://xxxxx@hooks.internal/in"}
	}
	return r
}

// eventsFixture is an app with two destinations and a log of three
// records, newest first: an async one, a sync one and an unrouted one.
func eventsFixture() (*App, *listedEventLog, *fakeQueue) {
	unrouted := eventAt(3*time.Hour, "stripe", "evt_3", false)
	unrouted.State = store.StateUnrouted
	log := &listedEventLog{records: []store.EventRecord{
		eventAt(time.Minute, "mux", "evt_1", true),
		eventAt(time.Hour, "github", "evt_2", false),
		unrouted,
	}}
	log.records[0].Log = []store.EventAttempt{{Key: log.records[0].Key, At: log.records[0].ReceivedAt,
		Destination: "http://xxxxx@hooks.internal/in", Attempt: 1, Status: 503, Duration: 1500 * time.Microsecond,
		Result: store.StateRetrying, Error: "status 503"}}
	app := &App{
		destinations: map[string]deliver.Destination{credHook: {URL: credHook}, plainHook: {URL: plainHook}},
	}
	app.events.Store(&recorder{log: log})
	return app, log, &fakeQueue{}
}

// callEvents serves one admin request for the event log's paths.
func callEvents(app *App, q store.Store, method, target, body string) (*httptest.ResponseRecorder, error) {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	w := httptest.NewRecorder()
	return w, Admin{}.serveEvents(w, r, app, q, strings.TrimPrefix(r.URL.Path, adminPrefix))
}

// wantAPIError fails unless err is an API error of status whose message
// holds every part.
func wantAPIError(t *testing.T, what string, err error, status int, parts ...string) {
	t.Helper()
	var ae caddy.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != status {
		t.Errorf("%s: %v, want %d", what, err, status)
		return
	}
	for _, p := range parts {
		if !strings.Contains(ae.Message, p) {
			t.Errorf("%s: %q does not say %q", what, ae.Message, p)
		}
	}
	noCredentials(t, what, ae.Message)
}

func TestEventsListing(t *testing.T) {
	app, log, q := eventsFixture()
	w, err := callEvents(app, q, "GET", "/webhook_ingress/events", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got) != 3 {
		t.Fatalf("listing: %s (%v)", w.Body, err)
	}
	if f := log.lastFilter(); f.Limit != defaultEventPage || f.Cursor != "" || !f.Since.IsZero() {
		t.Errorf("default filter %+v", f)
	}
	first := got[0]
	for _, field := range []string{"key", "id", "provider", "scope", "type", "mode", "received_at", "answer",
		"state", "attempts", "destinations", "size"} {
		if _, ok := first[field]; !ok {
			t.Errorf("no %s in %v", field, first)
		}
	}
	for _, field := range []string{"headers", "body", "attempt_log"} {
		if _, ok := first[field]; ok {
			t.Errorf("a listing shows %s", field)
		}
	}
	if first["mode"] != "async" || got[1]["mode"] != "sync" || len(got[1]["destinations"].([]any)) != 0 {
		t.Errorf("modes and destinations: %v", got)
	}
	if w.Header().Get("Link") != "" {
		t.Errorf("a last page has a Link: %s", w.Header().Get("Link"))
	}

	before := time.Now()
	if _, err := callEvents(app, q, "GET",
		"/webhook_ingress/events?provider=mux&scope=route&type=video.*&status=delivered&since=2h&until=2030-01-02T03:04:05Z&limit=1000",
		""); err != nil {
		t.Fatal(err)
	}
	f := log.lastFilter()
	until, _ := time.Parse(time.RFC3339, "2030-01-02T03:04:05Z")
	if f.Provider != "mux" || f.Scope != "route" || f.Type != "video.*" || f.Status != "delivered" || f.Limit != 1000 ||
		!f.Until.Equal(until) || f.Since.Before(before.Add(-2*time.Hour)) || f.Since.After(time.Now().Add(-2*time.Hour)) {
		t.Errorf("filter %+v", f)
	}
	if _, err := callEvents(app, q, "GET", "/webhook_ingress/events?since=1d", ""); err != nil {
		t.Fatal(err)
	}
	if since := log.lastFilter().Since; time.Since(since) < 24*time.Hour || time.Since(since) > 25*time.Hour {
		t.Errorf("since=1d: %v", since)
	}

	for query, parts := range map[string][]string{
		"limit=0":         {"limit", "1 to 1000"},
		"limit=1001":      {"limit"},
		"limit=x":         {"limit"},
		"since=yesterday": {"since", "RFC 3339", "duration"},
		"until=-2h":       {"until"},
		"status=gone":     {"status", "delivered"},
		"type=[":          {"type"},
		"cursor=nope":     {"cursor"},
	} {
		_, err := callEvents(app, q, "GET", "/webhook_ingress/events?"+query, "")
		wantAPIError(t, query, err, http.StatusBadRequest, parts...)
	}
}

func TestEventsListingLinksTheNextPage(t *testing.T) {
	app, _, q := eventsFixture()
	w, err := callEvents(app, q, "GET", "/webhook_ingress/events?limit=1&since=1d&provider=", "")
	if err != nil {
		t.Fatal(err)
	}
	link := w.Header().Get("Link")
	target, ok := strings.CutSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	if !ok || !strings.HasPrefix(target, "/webhook_ingress/events?") {
		t.Fatalf("Link %q", link)
	}
	u, _ := url.Parse(target)
	if _, err := time.Parse(time.RFC3339Nano, u.Query().Get("since")); err != nil || u.Query().Get("limit") != "1" {
		t.Errorf("the next page selects otherwise: %s", target)
	}
	// Every page follows the one before, without a record twice.
	var keys []string
	for target != "" {
		w, err := callEvents(app, q, "GET", target, "")
		if err != nil {
			t.Fatal(err)
		}
		var page []eventRecord
		_ = json.Unmarshal(w.Body.Bytes(), &page)
		for _, e := range page {
			keys = append(keys, e.Key)
		}
		target, _ = strings.CutSuffix(strings.TrimPrefix(w.Header().Get("Link"), "<"), `>; rel="next"`)
	}
	if len(keys) != 2 || keys[0] <= keys[1] {
		t.Errorf("pages after the first: %v", keys)
	}
}

func TestEventsOffAndPaths(t *testing.T) {
	app, _, q := eventsFixture()
	_, err := callEvents(&App{}, q, "GET", "/webhook_ingress/events", "")
	wantAPIError(t, "log off", err, http.StatusNotFound, errEventLogOff.Error())
	_, err = callEvents(app, q, "POST", "/webhook_ingress/events", "")
	wantAPIError(t, "POST events", err, http.StatusMethodNotAllowed)
	_, err = callEvents(app, q, "DELETE", "/webhook_ingress/events/evt_1", "")
	wantAPIError(t, "DELETE event", err, http.StatusMethodNotAllowed)
	_, err = callEvents(app, q, "GET", "/webhook_ingress/events/", "")
	wantAPIError(t, "no ref", err, http.StatusBadRequest, "key or id")
	_, err = callEvents(app, q, "POST", "/webhook_ingress/events//replay", "")
	wantAPIError(t, "no ref to replay", err, http.StatusBadRequest, "key or id")
}

func TestEventShow(t *testing.T) {
	app, log, q := eventsFixture()
	want := log.records[0]
	for _, ref := range []string{want.Key, want.ID} {
		w, err := callEvents(app, q, "GET", "/webhook_ingress/events/"+ref, "")
		if err != nil {
			t.Fatal(err)
		}
		var got eventRecord
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Key != want.Key || string(got.Body) != string(want.Body) || got.Headers.Get("Webhook-Signature") != "v1,sig" ||
			len(got.AttemptLog) != 1 || got.AttemptLog[0].DurationMS != 1.5 || got.AttemptLog[0].Error != "status 503" {
			t.Errorf("show %s: %s", ref, w.Body)
		}
		if !strings.Contains(w.Body.String(), `"body":"eyJpZCI6IngifQ=="`) {
			t.Errorf("the body is not base64: %s", w.Body)
		}
	}
	w, err := callEvents(app, q, "GET", "/webhook_ingress/events/"+log.records[1].ID, "")
	if err != nil || !strings.Contains(w.Body.String(), `"attempt_log":[]`) {
		t.Errorf("no attempts: %s (%v)", w.Body, err)
	}
	_, err = callEvents(app, q, "GET", "/webhook_ingress/events/nope", "")
	wantAPIError(t, "unknown", err, http.StatusNotFound, "nope")
}

func TestEventReplay(t *testing.T) {
	app, log, q := eventsFixture()
	async := log.records[0]
	w, err := callEvents(app, q, "POST", "/webhook_ingress/events/"+async.ID+"/replay", "")
	if err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusAccepted {
		t.Errorf("status %d", w.Code)
	}
	var out struct {
		Replayed     int      `json:"replayed"`
		Destinations []string `json:"destinations"`
		Key, ID      string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Replayed != 1 || out.Key != async.Key ||
		out.ID != async.ID || !slices.Equal(out.Destinations, []string{"http://xxxxx@hooks.internal/in"}) {
		t.Errorf("answer %s (%v)", w.Body, err)
	}
	noCredentials(t, "replay answer", w.Body.String())
	calls := q.calls()
	if len(calls) != 1 {
		t.Fatalf("enqueued %d times", len(calls))
	}
	c := calls[0]
	if c.claim != (store.Claim{}) || !slices.Equal(c.dests, []string{credHook}) || c.ev.ID != async.ID ||
		c.ev.Provider != async.Provider || string(c.ev.Body) != string(async.Body) ||
		c.ev.Header.Get(deliver.ReplayHeader) != async.Key || c.ev.Header.Get("Webhook-Signature") != "v1,sig" ||
		time.Since(c.ev.ReceivedAt) > time.Minute {
		t.Errorf("enqueued %+v", c)
	}
	if log.records[0].Header.Get(deliver.ReplayHeader) != "" {
		t.Error("the record's header was changed")
	}

	// to: as configured, or masked; a sync record needs it.
	for _, to := range []string{plainHook, credHook, "http://xxxxx@hooks.internal/in"} {
		body, _ := json.Marshal(map[string]string{"to": to})
		if _, err := callEvents(app, q, "POST", "/webhook_ingress/events/evt_2/replay", string(body)); err != nil {
			t.Errorf("to %s: %v", to, err)
		}
		if calls := q.calls(); !slices.Equal(calls[len(calls)-1].dests, []string{strings.Replace(to, "xxxxx", "hookuser:s3cr3tpass", 1)}) {
			t.Errorf("to %s: enqueued for %v", to, calls[len(calls)-1].dests)
		}
	}

	gone := eventAt(2*time.Minute, "mux", "evt_gone", true)
	gone.Destinations = []string{"http://old.internal/in"}
	log.records = append(log.records, gone)
	for _, c := range []struct {
		ref, body string
		status    int
		parts     []string
	}{
		{"evt_2", "", http.StatusConflict, []string{"sync", `"to"`}},
		{"evt_3", "", http.StatusConflict, []string{"no destination", `"to"`}},
		{"evt_gone", "", http.StatusConflict, []string{"http://old.internal/in", "no longer configured", `"to"`}},
		{"evt_1", `{"to":"http://user:other@elsewhere/x"}`, http.StatusBadRequest,
			[]string{"no destination", `"http://audit.internal/in"`, `"http://xxxxx@hooks.internal/in"`}},
		{"evt_1", `{"to":"x","dry_run":true}`, http.StatusBadRequest, []string{`only "to"`}},
		{"evt_1", `{"destination":"x"}`, http.StatusBadRequest, []string{"destination", "JSON"}},
		{"evt_1", `{"to":`, http.StatusBadRequest, []string{"JSON"}},
		{"nope", "", http.StatusNotFound, []string{"nope"}},
	} {
		_, err := callEvents(app, q, "POST", "/webhook_ingress/events/"+c.ref+"/replay", c.body)
		wantAPIError(t, c.ref+" "+c.body, err, c.status, c.parts...)
	}

	q.err = errors.New("down")
	_, err = callEvents(app, q, "POST", "/webhook_ingress/events/evt_1/replay", "")
	wantAPIError(t, "store down", err, http.StatusServiceUnavailable)
}

func TestEventsReplaySelection(t *testing.T) {
	app, log, q := eventsFixture()
	log.pageSize = 1 // a page per record: the replay follows Next
	w, err := callEvents(app, q, "POST", "/webhook_ingress/events/replay", `{"since":"1d","dry_run":true}`)
	if err != nil || strings.TrimSpace(w.Body.String()) != `{"matched":3}` || len(q.calls()) != 0 {
		t.Fatalf("dry run: %s (%v), %d enqueued", w.Body, err, len(q.calls()))
	}
	if len(log.filters) < 3 {
		t.Errorf("%d pages read", len(log.filters))
	}

	w, err = callEvents(app, q, "POST", "/webhook_ingress/events/replay", `{"since":"1d"}`)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Matched, Replayed int
		Skipped           []replaySkip
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Matched != 3 || out.Replayed != 1 ||
		len(out.Skipped) != 2 || !strings.Contains(out.Skipped[0].Reason, `"to"`) {
		t.Errorf("replay: %s (%v)", w.Body, err)
	}
	if calls := q.calls(); len(calls) != 1 || calls[0].ev.Header.Get(deliver.ReplayHeader) != log.records[0].Key {
		t.Errorf("enqueued %+v", calls)
	}

	w, err = callEvents(app, q, "POST", "/webhook_ingress/events/replay", `{"provider":"github","to":"`+plainHook+`"}`)
	if err != nil || !strings.Contains(w.Body.String(), `"replayed":1`) {
		t.Errorf("to: %s (%v)", w.Body, err)
	}
	w, err = callEvents(app, q, "POST", "/webhook_ingress/events/replay", `{"since":"1d","limit":2,"dry_run":true}`)
	if err != nil || strings.TrimSpace(w.Body.String()) != `{"matched":2}` {
		t.Errorf("limit 2: %s (%v)", w.Body, err)
	}

	for body, parts := range map[string][]string{
		``:                                 {"provider", "since"},
		`{}`:                               {"provider", "since"},
		`{"since":"1d","limit":10001}`:     {"limit", "10000"},
		`{"since":"1d","limit":-1}`:        {"limit"},
		`{"since":"1d","force":true}`:      {"JSON", "force"},
		`{"since":"soon"}`:                 {"since"},
		`{"status":"gone"}`:                {"status"},
		`{"since":"1d","to":"http://x/y"}`: {"no destination"},
	} {
		_, err := callEvents(app, q, "POST", "/webhook_ingress/events/replay", body)
		wantAPIError(t, body, err, http.StatusBadRequest, parts...)
	}
	huge := `{"provider":"` + strings.Repeat("p", maxReplayBody) + `"}`
	_, err = callEvents(app, q, "POST", "/webhook_ingress/events/replay", huge)
	wantAPIError(t, "huge body", err, http.StatusRequestEntityTooLarge)
}
