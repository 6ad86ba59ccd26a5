package store

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// eventConformance is what every backend's event log must do alike.
var eventConformance = []struct {
	name string
	run  func(t *testing.T, l EventLog)
}{
	{"record_list_read", testEventRecordListRead},
	{"filters", testEventFilters},
	{"paging", testEventPaging},
	{"attempts", testEventAttempts},
	{"attempt_before_record", testEventAttemptBeforeRecord},
	{"expire", testEventExpire},
	{"bounded", testEventBounded},
}

func TestEventConformance(t *testing.T) {
	srv := redistest.Start(t)
	for _, b := range []backend{logBackend(), redisBackend(srv)} {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range eventConformance {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, b.open(t).(EventLog))
				})
			}
		})
	}
}

// base is a fixed time a little in the past, so that Redis expiries set
// from it are in the future.
var eventBase = time.Now().Add(-time.Hour).Truncate(time.Millisecond)

func eventAt(i int, provider, id string) EventRecord {
	at := eventBase.Add(time.Duration(i) * time.Second)
	return EventRecord{
		Key: EventKey(at, provider, id), ID: id, Provider: provider, Scope: "s-" + provider,
		Type: "video.asset.ready", Async: true, ReceivedAt: at, Answer: 202,
		Destinations: []string{"http://svc/hook"}, State: StateQueued,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"id":"` + id + `"}`),
	}
}

func record(t *testing.T, l EventLog, recs []EventRecord, atts ...EventAttempt) {
	t.Helper()
	for i := range recs {
		recs[i].BodySize = len(recs[i].Body)
	}
	must(t, l.RecordEvents(ctx, EventBatch{Records: recs, Attempts: atts, Retain: 2 * time.Hour}))
}

func list(t *testing.T, l EventLog, f EventFilter) EventPage {
	t.Helper()
	p, err := l.ListEvents(ctx, f)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", f, err)
	}
	for _, r := range p.Events {
		if r.Body != nil || r.Header != nil || r.Log != nil {
			t.Fatalf("a listing returned a body, headers or attempts: %+v", r)
		}
	}
	return p
}

func eventIDs(p EventPage) []string {
	var out []string
	for _, r := range p.Events {
		out = append(out, r.ID)
	}
	return out
}

func testEventRecordListRead(t *testing.T, l EventLog) {
	sync := eventAt(1, "github", "d-1")
	sync.Async, sync.Answer, sync.State, sync.Destinations, sync.Type = false, 200, StatePassed, nil, ""
	async := eventAt(2, "stripe", "evt_1")
	record(t, l, []EventRecord{sync, async})

	p := list(t, l, EventFilter{})
	if got := eventIDs(p); !slices.Equal(got, []string{"evt_1", "d-1"}) || p.Next != "" {
		t.Fatalf("listing = %v next %q, want [evt_1 d-1] and no next page", got, p.Next)
	}
	got := p.Events[0]
	if got.Key != async.Key || got.Provider != "stripe" || got.Scope != "s-stripe" || got.Type != "video.asset.ready" ||
		!got.Async || got.Answer != 202 || got.State != StateQueued || got.BodySize != len(async.Body) ||
		!got.ReceivedAt.Equal(async.ReceivedAt) || !slices.Equal(got.Destinations, async.Destinations) {
		t.Fatalf("listed %+v, recorded %+v", got, async)
	}
	if p.Events[1].Async || p.Events[1].Answer != 200 || p.Events[1].State != StatePassed {
		t.Fatalf("sync record listed as %+v", p.Events[1])
	}

	for _, ref := range []string{async.Key, "evt_1"} {
		r, err := l.ReadEvent(ctx, ref)
		must(t, err)
		if r == nil || r.Key != async.Key || string(r.Body) != string(async.Body) ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("ReadEvent(%q) = %+v", ref, r)
		}
	}
	if r, err := l.ReadEvent(ctx, "nope"); err != nil || r != nil {
		t.Fatalf("ReadEvent(unknown) = %+v, %v; want nil, nil", r, err)
	}
	if r, err := l.ReadEvent(ctx, EventKey(time.Now(), "x", "y")); err != nil || r != nil {
		t.Fatalf("ReadEvent(unknown key) = %+v, %v; want nil, nil", r, err)
	}

	// A Webhook-Id names its newest record.
	again := eventAt(3, "stripe", "evt_1")
	record(t, l, []EventRecord{again})
	r, err := l.ReadEvent(ctx, "evt_1")
	must(t, err)
	if r == nil || r.Key != again.Key {
		t.Fatalf("ReadEvent(evt_1) = %+v, want the newer record %s", r, again.Key)
	}
}

func testEventFilters(t *testing.T, l EventLog) {
	a := eventAt(1, "stripe", "a")
	b := eventAt(2, "github", "b")
	b.Type, b.Async, b.Answer, b.State = "push", false, 502, StateFailed
	c := eventAt(3, "stripe", "c")
	c.Type, c.Scope = "payment.succeeded", "shared"
	record(t, l, []EventRecord{a, b, c})
	record(t, l, nil, EventAttempt{Key: a.Key, At: a.ReceivedAt, Destination: "http://svc/hook", Attempt: 1,
		Status: 200, Result: StateDelivered})

	for _, tc := range []struct {
		f    EventFilter
		want []string
	}{
		{EventFilter{Provider: "stripe"}, []string{"c", "a"}},
		{EventFilter{Scope: "shared"}, []string{"c"}},
		{EventFilter{Type: "video.*"}, []string{"a"}},
		{EventFilter{Type: "push"}, []string{"b"}},
		{EventFilter{Status: StateDelivered}, []string{"a"}},
		{EventFilter{Status: StateQueued}, []string{"c"}},
		{EventFilter{Status: "502"}, []string{"b"}},
		{EventFilter{Status: "202"}, []string{"c", "a"}},
		{EventFilter{Since: b.ReceivedAt}, []string{"c", "b"}},
		{EventFilter{Until: b.ReceivedAt}, []string{"a"}},
		{EventFilter{Since: a.ReceivedAt, Until: c.ReceivedAt}, []string{"b", "a"}},
		{EventFilter{Provider: "stripe", Status: StateFailed}, nil},
	} {
		if got := eventIDs(list(t, l, tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("ListEvents(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	for _, bad := range []EventFilter{{Type: "["}, {Status: "gone"}, {Status: "42"}, {Cursor: "not-a-key"}} {
		if _, err := l.ListEvents(ctx, bad); err == nil {
			t.Errorf("ListEvents(%+v) took a bad filter", bad)
		}
	}
}

func testEventPaging(t *testing.T, l EventLog) {
	var recs []EventRecord
	var want []string
	for i := range 25 {
		provider := "stripe"
		if i%5 == 0 {
			provider = "github"
		}
		r := eventAt(i, provider, "e"+string(rune('a'+i)))
		recs = append(recs, r)
		if provider == "github" {
			want = append([]string{r.ID}, want...)
		}
	}
	record(t, l, recs)

	// Pages of 2 of the 5 github events, scanning at most 4 records a
	// call: pages may end early, but together they hold each one once.
	var got []string
	f := EventFilter{Provider: "github", Limit: 2, Scan: 4}
	for calls := 0; ; calls++ {
		if calls > 30 {
			t.Fatal("paging does not end")
		}
		p := list(t, l, f)
		if len(p.Events) > 2 {
			t.Fatalf("a page of limit 2 held %d", len(p.Events))
		}
		got = append(got, eventIDs(p)...)
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}

	// Without a filter, a full page says where to go on.
	p := list(t, l, EventFilter{Limit: 10})
	if len(p.Events) != 10 || p.Next == "" {
		t.Fatalf("first page: %d events, next %q", len(p.Events), p.Next)
	}
	p = list(t, l, EventFilter{Limit: 10, Cursor: p.Next})
	if len(p.Events) != 10 || p.Events[0].ID != recs[14].ID {
		t.Fatalf("second page starts with %v, want %s", eventIDs(p), recs[14].ID)
	}
}

func testEventAttempts(t *testing.T, l EventLog) {
	ev := eventAt(1, "mux", "m-1")
	ev.Destinations = []string{"http://a/", "http://b/"}
	attempt := func(n int, dest, result string, status int, errText string, replay bool) EventAttempt {
		return EventAttempt{Key: ev.Key, At: ev.ReceivedAt.Add(time.Duration(n) * time.Second), Destination: dest,
			Attempt: n, Status: status, Duration: time.Duration(n) * time.Millisecond, Result: result, Error: errText,
			Replay: replay}
	}
	first := attempt(1, "http://a/", StateRetrying, 503, "status 503", false)
	record(t, l, []EventRecord{ev}, first)
	p := list(t, l, EventFilter{})
	if p.Events[0].State != StateRetrying || p.Events[0].Attempts != 1 {
		t.Fatalf("after a failed attempt: %+v", p.Events[0])
	}
	rest := []EventAttempt{
		attempt(2, "http://a/", StateDelivered, 200, "", false),
		attempt(1, "http://b/", StateDelivered, 204, "", false),
		attempt(1, "http://a/", StateDelivered, 200, "", true),
	}
	record(t, l, nil, rest...)
	r, err := l.ReadEvent(ctx, ev.Key)
	must(t, err)
	if r.State != StateDelivered || r.Attempts != 4 {
		t.Fatalf("after 4 attempts: state %s, attempts %d", r.State, r.Attempts)
	}
	want := append([]EventAttempt{first}, rest...)
	if len(r.Log) != len(want) {
		t.Fatalf("attempts %+v, want %+v", r.Log, want)
	}
	for i, a := range r.Log {
		w := want[i]
		if a.Key != w.Key || !a.At.Equal(w.At) || a.Destination != w.Destination || a.Attempt != w.Attempt ||
			a.Status != w.Status || a.Duration != w.Duration || a.Result != w.Result || a.Error != w.Error ||
			a.Replay != w.Replay {
			t.Fatalf("attempt %d = %+v, want %+v", i, a, w)
		}
	}
}

func testEventAttemptBeforeRecord(t *testing.T, l EventLog) {
	ev := eventAt(1, "mux", "m-2")
	record(t, l, nil, EventAttempt{Key: ev.Key, At: ev.ReceivedAt, Destination: "http://svc/hook", Attempt: 1,
		Status: 200, Result: StateDelivered})
	record(t, l, []EventRecord{ev})
	r, err := l.ReadEvent(ctx, ev.Key)
	must(t, err)
	if r == nil || r.ID != "m-2" || r.State != StateDelivered || r.Attempts != 1 || len(r.Log) != 1 ||
		string(r.Body) != string(ev.Body) {
		t.Fatalf("record written after its attempt: %+v", r)
	}
	if p := list(t, l, EventFilter{}); len(p.Events) != 1 || p.Events[0].State != StateDelivered {
		t.Fatalf("listing: %+v", p.Events)
	}
}

func testEventExpire(t *testing.T, l EventLog) {
	old := eventAt(1, "stripe", "old")
	recent := eventAt(100, "stripe", "recent")
	record(t, l, []EventRecord{old, recent})
	must(t, l.ExpireEvents(ctx, recent.ReceivedAt, 0))
	if got := eventIDs(list(t, l, EventFilter{})); !slices.Equal(got, []string{"recent"}) {
		t.Fatalf("after expiry: %v", got)
	}
	if r, err := l.ReadEvent(ctx, old.Key); err != nil || r != nil {
		t.Fatalf("an expired record is still read: %+v, %v", r, err)
	}
}

func testEventBounded(t *testing.T, l EventLog) {
	ev := eventAt(1, strings.Repeat("p", 5000), strings.Repeat("i", 5000))
	ev.Type = strings.Repeat("t", 5000)
	ev.Key = EventKey(ev.ReceivedAt, ev.Provider, ev.ID)
	record(t, l, []EventRecord{ev}, EventAttempt{Key: ev.Key, At: ev.ReceivedAt, Result: StateRetrying,
		Error: strings.Repeat("e", 5000)})
	r, err := l.ReadEvent(ctx, ev.Key)
	must(t, err)
	if r == nil || len(r.ID) > maxEventField || len(r.Type) > maxEventField || len(r.Log) != 1 ||
		len(r.Log[0].Error) > maxEventError {
		t.Fatalf("unbounded record: %+v", r)
	}
}
