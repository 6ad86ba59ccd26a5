package webhookingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redact"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// The event log on the admin API: list records (metadata only, a page at a
// time), show one with its headers, body and attempts, and replay one or a
// selection through the queue, with the event's original Webhook-Id and
// deliver.ReplayHeader naming the record.

const (
	// defaultEventPage is a listing's page without a limit.
	defaultEventPage = 50
	// defaultReplayLimit and maxReplayLimit bound how many records one
	// bulk replay selects.
	defaultReplayLimit = 1000
	maxReplayLimit     = 10000
	// maxReplayBody bounds a replay request's JSON.
	maxReplayBody = 64 << 10
	// maxShownSkips bounds the skipped records a bulk replay names.
	maxShownSkips = 20
	// replayTimeout bounds the enqueue of one replay.
	replayTimeout = 10 * time.Second
)

// eventRecord is one event log record as the admin API shows it.
type eventRecord struct {
	// Key is the log's name for the record: it names it in a show or a
	// replay, and is a listing's cursor.
	Key string `json:"key"`
	// ID is the event id (Webhook-Id); it names the newest record of that
	// event when no record has it as its key.
	ID string `json:"id"`
	// Provider is the route's provider preset.
	Provider string `json:"provider"`
	// Scope is the claim scope: a route, or a scope several routes share.
	Scope string `json:"scope"`
	// Type is the event type; "" when the provider's preset names none.
	Type string `json:"type"`
	// Mode is "async" for an event webhook_forward queued, else "sync"
	// (passed on to the next handler, or routed nowhere).
	Mode string `json:"mode"`
	// ReceivedAt is when the gateway accepted the event.
	ReceivedAt time.Time `json:"received_at"`
	// Answer is the HTTP status the gateway answered the sender.
	Answer int `json:"answer"`
	// State is passed or failed (sync), unrouted, or for an async event
	// the result of its latest attempt: queued, delivered, retrying, dead.
	State string `json:"state"`
	// Attempts counts the delivery attempts recorded, replays included.
	Attempts int `json:"attempts"`
	// Destinations are the URLs an async event was queued for,
	// credentials masked.
	Destinations []string `json:"destinations"`
	// Size is the body's length in bytes.
	Size int `json:"size"`
	// Headers are the sender's headers without credentials; only when one
	// record is shown.
	Headers http.Header `json:"headers,omitempty"`
	// Body is the event's body, base64-encoded; only when one record is
	// shown.
	Body []byte `json:"body,omitempty"`
	// AttemptLog is every delivery attempt, oldest first; only when one
	// record is shown.
	AttemptLog []eventAttempt `json:"attempt_log,omitzero"`
}

// eventAttempt is one delivery attempt of a shown record.
type eventAttempt struct {
	// At is when the attempt started.
	At time.Time `json:"at"`
	// Destination is the URL attempted, credentials masked.
	Destination string `json:"destination"`
	// Attempt is the attempt's number (Webhook-Attempt).
	Attempt int `json:"attempt"`
	// Status is the destination's HTTP status; 0 when none came.
	Status int `json:"status"`
	// DurationMS is how long the attempt took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Result is delivered, retrying (it is retried) or dead (given up).
	Result string `json:"result"`
	// Error is why the attempt failed; "" when delivered.
	Error string `json:"error"`
	// Replay is set for an attempt of a replay.
	Replay bool `json:"replay"`
}

func eventRecordJSON(r *store.EventRecord) eventRecord {
	mode := "sync"
	if r.Async {
		mode = "async"
	}
	dests := r.Destinations
	if dests == nil {
		dests = []string{}
	}
	return eventRecord{Key: r.Key, ID: r.ID, Provider: r.Provider, Scope: r.Scope, Type: r.Type, Mode: mode,
		ReceivedAt: r.ReceivedAt, Answer: r.Answer, State: r.State, Attempts: r.Attempts, Destinations: dests,
		Size: r.BodySize, Headers: r.Header, Body: r.Body}
}

// eventSelection is a filter as the listing's query and a bulk replay's
// JSON name it; Since and Until are RFC 3339 times or durations back from
// now.
type eventSelection struct {
	// Provider is a provider preset.
	Provider string `json:"provider"`
	// Scope is a claim scope: a route, or a scope several routes share.
	Scope string `json:"scope"`
	// Type is an event type or a glob of one ("video.*").
	Type string `json:"type"`
	// Status is a state (passed, failed, unrouted, queued, delivered,
	// retrying, dead) or the gateway's answer ("202").
	Status string `json:"status"`
	// Since selects events received at or after it.
	Since string `json:"since"`
	// Until selects events received before it.
	Until string `json:"until"`
}

func (s eventSelection) empty() bool { return s == eventSelection{} }

// filter is the store filter s names from cursor on, checked; a bad one
// is a 400 naming the parameter.
func (s eventSelection) filter(now time.Time, cursor string) (store.EventFilter, error) {
	f := store.EventFilter{Provider: s.Provider, Scope: s.Scope, Type: s.Type, Status: s.Status, Cursor: cursor}
	var err error
	if f.Since, err = pointInTime("since", s.Since, now); err != nil {
		return f, err
	}
	if f.Until, err = pointInTime("until", s.Until, now); err != nil {
		return f, err
	}
	if err := f.Check(); err != nil {
		return f, apiError(http.StatusBadRequest, err.Error())
	}
	return f, nil
}

// pointInTime reads an RFC 3339 time or a Caddy duration back from now;
// "" is the zero time (no bound).
func pointInTime(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := caddy.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, apiError(http.StatusBadRequest, fmt.Sprintf(
		"%s must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (30m, 2h, 1d)", name))
}

// serveEvents dispatches the event log's paths: events, events/replay,
// events/<ref> and events/<ref>/replay.
func (a Admin) serveEvents(w http.ResponseWriter, r *http.Request, app *App, st store.Store, path string) error {
	el, err := app.eventLog()
	if err != nil {
		return apiError(http.StatusNotFound, err.Error())
	}
	ref, isOne := strings.CutPrefix(path, "events/")
	replayOf, isReplay := strings.CutSuffix(ref, "/replay")
	switch {
	case path == "events" && r.Method == http.MethodGet:
		return a.listEvents(w, r, el)
	case ref == "replay" && r.Method == http.MethodPost:
		return a.replayEvents(w, r, app, st, el)
	case isOne && (ref == "" || isReplay && replayOf == ""):
		return apiError(http.StatusBadRequest, "a key or id is required: /webhook_ingress/events/<ref>")
	case isReplay && r.Method == http.MethodPost:
		return a.replayEvent(w, r, app, st, el, replayOf)
	case isOne && r.Method == http.MethodGet:
		return a.showEvent(w, r, el, ref)
	}
	return apiError(http.StatusMethodNotAllowed, "method not allowed")
}

// listEvents answers a page of records' metadata, newest first. When the
// store names a next page, the Link header does, with since and until as
// the absolute times this page used, so that every page selects alike.
func (Admin) listEvents(w http.ResponseWriter, r *http.Request, el store.EventLog) error {
	query := r.URL.Query()
	sel := eventSelection{Provider: query.Get("provider"), Scope: query.Get("scope"), Type: query.Get("type"),
		Status: query.Get("status"), Since: query.Get("since"), Until: query.Get("until")}
	f, err := sel.filter(time.Now(), query.Get("cursor"))
	if err != nil {
		return err
	}
	f.Limit = defaultEventPage
	if s := query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxEventPage {
			return apiError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", store.MaxEventPage))
		}
		f.Limit = n
	}
	page, err := el.ListEvents(r.Context(), f)
	if err != nil {
		return eventStoreError(err)
	}
	if page.Next != "" {
		for name, t := range map[string]time.Time{"since": f.Since, "until": f.Until} {
			if !t.IsZero() {
				query.Set(name, t.Format(time.RFC3339Nano))
			}
		}
		query.Set("cursor", page.Next)
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, adminPrefix+"events", query.Encode()))
	}
	out := make([]eventRecord, len(page.Events))
	for i := range page.Events {
		out[i] = eventRecordJSON(&page.Events[i])
	}
	return writeAdminJSON(w, out)
}

// eventStoreError is a 400 for a filter the store refuses, else
// storeError.
func eventStoreError(err error) error {
	if errors.Is(err, store.ErrBadFilter) {
		return apiError(http.StatusBadRequest, err.Error())
	}
	return storeError(err)
}

// showEvent answers one record, by key or Webhook-Id, with its headers,
// body and attempts.
func (Admin) showEvent(w http.ResponseWriter, r *http.Request, el store.EventLog, ref string) error {
	rec, err := el.ReadEvent(r.Context(), ref)
	if err != nil {
		return storeError(err)
	}
	if rec == nil {
		return apiError(http.StatusNotFound, "no event with key or id "+ref)
	}
	out := eventRecordJSON(rec)
	out.AttemptLog = make([]eventAttempt, len(rec.Log))
	for i, a := range rec.Log {
		out.AttemptLog[i] = eventAttempt{At: a.At, Destination: a.Destination, Attempt: a.Attempt, Status: a.Status,
			DurationMS: float64(a.Duration) / float64(time.Millisecond), Result: a.Result, Error: a.Error,
			Replay: a.Replay}
	}
	return writeAdminJSON(w, out)
}

// replayRequest is the JSON of a replay: to alone for one record, a
// selection for several.
type replayRequest struct {
	eventSelection
	// To is the destination to replay to, as configured or masked;
	// without it, the destinations the event was queued for.
	To string `json:"to"`
	// Limit bounds how many records a selection replays (default 1000,
	// at most 10000).
	Limit int `json:"limit"`
	// DryRun only counts the records a selection matches.
	DryRun bool `json:"dry_run"`
}

// readReplayRequest decodes the request's JSON, bounded and strict; an
// empty body is the zero request. expect says what a body must be.
func readReplayRequest(w http.ResponseWriter, r *http.Request, expect string) (replayRequest, error) {
	var req replayRequest
	if r.ContentLength == 0 {
		return req, nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReplayBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxReplayBody))
		}
		return req, apiError(http.StatusBadRequest, expect+" ("+err.Error()+")")
	}
	return req, nil
}

// replayEvent queues one record again, to its destinations or to `to`.
func (Admin) replayEvent(w http.ResponseWriter, r *http.Request, app *App, st store.Queue, el store.EventLog, ref string) error {
	req, err := readReplayRequest(w, r, `body must be JSON: {"to":"<destination url>"}`)
	if err != nil {
		return err
	}
	if req != (replayRequest{To: req.To}) {
		return apiError(http.StatusBadRequest, `replaying one event takes only "to"; select several with POST /webhook_ingress/events/replay`)
	}
	configured := sortedDestinations(app)
	to, err := replayTo(configured, req.To)
	if err != nil {
		return err
	}
	rec, err := el.ReadEvent(r.Context(), ref)
	if err != nil {
		return storeError(err)
	}
	if rec == nil {
		return apiError(http.StatusNotFound, "no event with key or id "+ref)
	}
	dests, err := replayDestinations(configured, rec, to)
	if err != nil {
		return apiError(http.StatusConflict, err.Error())
	}
	if err := replay(r.Context(), app, st, rec, dests); err != nil {
		return storeError(err)
	}
	masked := make([]string, len(dests))
	for i, d := range dests {
		masked[i] = redact.URL(d)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	return json.NewEncoder(w).Encode(map[string]any{"replayed": 1, "destinations": masked, "key": rec.Key, "id": rec.ID})
}

// replaySkip is a selected record a bulk replay did not queue, and why.
type replaySkip struct {
	// Key is the record's key.
	Key string `json:"key"`
	// Reason says why it was not replayed, and what would replay it.
	Reason string `json:"reason"`
}

// replayEvents queues again every record a selection matches, up to its
// limit, paging through the log; dry_run only counts them. A record that
// cannot be replayed as asked is skipped, not a failure of the call.
func (Admin) replayEvents(w http.ResponseWriter, r *http.Request, app *App, st store.Queue, el store.EventLog) error {
	req, err := readReplayRequest(w, r,
		"body must be a JSON object of provider, scope, type, status, since, until, to, limit and dry_run")
	if err != nil {
		return err
	}
	if req.empty() {
		return apiError(http.StatusBadRequest,
			`select events with one of provider, scope, type, status, since, until (since "1970-01-01T00:00:00Z" selects every one)`)
	}
	limit := req.Limit
	if limit == 0 {
		limit = defaultReplayLimit
	}
	if limit < 1 || limit > maxReplayLimit {
		return apiError(http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxReplayLimit))
	}
	f, err := req.filter(time.Now(), "")
	if err != nil {
		return err
	}
	configured := sortedDestinations(app)
	to, err := replayTo(configured, req.To)
	if err != nil {
		return err
	}
	matched, replayed, skipped := 0, 0, []replaySkip{}
	for matched < limit {
		f.Limit = min(limit-matched, store.MaxEventPage)
		page, err := el.ListEvents(r.Context(), f)
		if err != nil {
			return eventStoreError(err)
		}
		for _, meta := range page.Events {
			matched++
			if req.DryRun {
				continue
			}
			reason, err := replayRecord(r.Context(), app, st, el, configured, meta.Key, to)
			if err != nil {
				return storeError(err)
			}
			if reason == "" {
				replayed++
			} else if len(skipped) < maxShownSkips {
				skipped = append(skipped, replaySkip{Key: meta.Key, Reason: reason})
			}
		}
		if page.Next == "" || page.Next == f.Cursor {
			break
		}
		f.Cursor = page.Next
	}
	if req.DryRun {
		return writeAdminJSON(w, map[string]int{"matched": matched})
	}
	return writeAdminJSON(w, map[string]any{"matched": matched, "replayed": replayed, "skipped": skipped})
}

// replayRecord reads the record of key and replays it; a reason when it
// was skipped, an error when the store failed.
func replayRecord(ctx context.Context, app *App, st store.Queue, el store.EventLog, configured []string, key, to string) (string, error) {
	rec, err := el.ReadEvent(ctx, key)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "expired since it was listed", nil
	}
	dests, err := replayDestinations(configured, rec, to)
	if err != nil {
		return err.Error(), nil
	}
	return "", replay(ctx, app, st, rec, dests)
}

// replayTo is the configured destination `to` names, by its URL or as
// masked; "" for none.
func replayTo(configured []string, to string) (string, error) {
	if to == "" {
		return "", nil
	}
	for _, d := range configured {
		if d == to {
			return d, nil
		}
	}
	switch found := configuredAs(configured, to); len(found) {
	case 1:
		return found[0], nil
	case 0:
		masked := make([]string, len(configured))
		for i, d := range configured {
			masked[i] = strconv.Quote(redact.URL(d))
		}
		return "", apiError(http.StatusBadRequest, fmt.Sprintf("to %q is no destination of the running config (%s)",
			redact.URL(to), strings.Join(masked, ", ")))
	}
	return "", apiError(http.StatusBadRequest, fmt.Sprintf(
		"several destinations show as %q: name one with its credentials", redact.URL(to)))
}

// configuredAs is the configured destinations that show as masked.
func configuredAs(configured []string, masked string) []string {
	var found []string
	for _, d := range configured {
		if redact.URL(d) == masked {
			found = append(found, d)
		}
	}
	return found
}

// replayDestinations is where rec is replayed: to when set, else the
// configured destinations its masked ones stand for. The error says why
// the record needs a "to".
func replayDestinations(configured []string, rec *store.EventRecord, to string) ([]string, error) {
	switch {
	case rec.ReceivedAt.IsZero():
		return nil, fmt.Errorf("the log holds only delivery attempts of %s, not the event", rec.Key)
	case to != "":
		return []string{to}, nil
	case rec.State == store.StateUnrouted:
		return nil, fmt.Errorf(`event %s was routed to no destination: name one with "to"`, rec.Key)
	case !rec.Async || len(rec.Destinations) == 0:
		return nil, fmt.Errorf(`event %s was passed on in sync, not queued: name a destination with "to"`, rec.Key)
	}
	dests := make([]string, 0, len(rec.Destinations))
	for _, masked := range rec.Destinations {
		switch found := configuredAs(configured, masked); len(found) {
		case 0:
			return nil, fmt.Errorf(`event %s was queued for %s, which is no longer configured: name a destination with "to"`,
				rec.Key, masked)
		case 1:
			dests = append(dests, found[0])
		default:
			return nil, fmt.Errorf(`event %s was queued for %s, which several destinations show as: name one with "to"`,
				rec.Key, masked)
		}
	}
	return dests, nil
}

// replay queues rec again for dests: its original Webhook-Id and body, its
// recorded headers and deliver.ReplayHeader naming the record, received
// now (its delivery's max_age counts from the replay). The empty claim
// leaves dedup alone.
func replay(ctx context.Context, app *App, st store.Queue, rec *store.EventRecord, dests []string) error {
	header := rec.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set(deliver.ReplayHeader, rec.Key)
	ev := store.Event{ID: rec.ID, Provider: rec.Provider, Header: header, Body: rec.Body, ReceivedAt: time.Now()}
	// Queued whole or not at all, whether or not the caller waits.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replayTimeout)
	defer cancel()
	if err := st.Enqueue(ctx, store.Claim{}, dests, ev); err != nil {
		return err
	}
	app.notify(dests)
	return nil
}
