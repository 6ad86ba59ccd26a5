package store

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// evFrame is a frame of an event segment: its place and payload type.
type evFrame struct {
	start, end int64
	typ        byte
}

// eventFrames returns the frames of the event segment at path, which must
// be intact.
func eventFrames(t *testing.T, path string) []evFrame {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	var m marker
	copy(m[:], data[len(eventSegmentMagic)+4:])
	var out []evFrame
	for off := int64(segmentHeaderLen); off < int64(len(data)); {
		payload, n, err := parseFrame(data[off:], m)
		if err != nil {
			t.Fatalf("%s: no intact frame at %d", path, off)
		}
		out = append(out, evFrame{off, off + n, payload[0]})
		off += n
	}
	return out
}

func eventSegments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, eventsDir, "*"+eventSegmentExt))
	must(t, err)
	return names
}

// eventSnapshot is everything a log shows: the listing and every record
// read with its attempts.
func eventSnapshot(t *testing.T, l EventLog) (EventPage, []*EventRecord) {
	t.Helper()
	p := list(t, l, EventFilter{})
	var recs []*EventRecord
	for _, r := range p.Events {
		full, err := l.ReadEvent(ctx, r.Key)
		must(t, err)
		recs = append(recs, full)
	}
	return p, recs
}

// recordHistory records n events, a call each, and attempts in calls of
// their own, one of them before its record: what restarts must rebuild.
func recordHistory(t *testing.T, l EventLog, n int) []EventRecord {
	t.Helper()
	var recs []EventRecord
	for i := range n {
		recs = append(recs, eventAt(i, "mux", fmt.Sprintf("h-%d", i)))
	}
	attempt := func(r EventRecord, n int, result string) EventAttempt {
		return EventAttempt{Key: r.Key, At: r.ReceivedAt.Add(time.Duration(n) * time.Second), Destination: "http://svc/",
			Attempt: n, Status: 503, Duration: time.Millisecond, Result: result, Error: "status 503"}
	}
	record(t, l, nil, attempt(recs[n-1], 1, StateDelivered)) // before its record
	for i := range recs {
		record(t, l, recs[i:i+1], attempt(recs[i], 1, StateRetrying))
	}
	for i := 0; i < n; i += 3 {
		record(t, l, nil, attempt(recs[i], 2, StateRetrying), attempt(recs[i], 3, StateDead))
	}
	return recs
}

// TestEventLogRestart: reopening rebuilds the index from the segments:
// the same listing, records, bodies and attempts, across rolled segments,
// and writes go on after it.
func TestEventLogRestart(t *testing.T) {
	dir := t.TempDir()
	opts := LogOptions{eventSegmentSize: 2 << 10}
	l := openEventLog(t, dir, opts)
	recs := recordHistory(t, l, 30)
	page, full := eventSnapshot(t, l)
	if len(page.Events) != 30 || full[0].Attempts != 2 || full[0].State != StateRetrying || len(full[0].Log) != 2 ||
		full[len(full)-1].Attempts != 3 || full[len(full)-1].State != StateDead {
		t.Fatalf("before the restart: %d listed, newest %+v, oldest %+v", len(page.Events), full[0], full[len(full)-1])
	}
	must(t, l.Close())
	if n := len(eventSegments(t, dir)); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}

	var reports []Damage
	opts.OnDamage = func(d Damage) { reports = append(reports, d) }
	l = openEventLog(t, dir, opts)
	page2, full2 := eventSnapshot(t, l)
	if !reflect.DeepEqual(page, page2) || !reflect.DeepEqual(full, full2) || len(reports) > 0 {
		t.Fatalf("after the restart (damage %v):\n%+v\nwant\n%+v", reports, full2, full)
	}
	more := eventAt(100, "mux", "after")
	record(t, l, []EventRecord{more})
	// Attempts whose record never came: read by key, never listed.
	orphan := eventAt(50, "mux", "orphan")
	record(t, l, nil, EventAttempt{Key: orphan.Key, At: orphan.ReceivedAt, Attempt: 1, Result: StateDead})
	must(t, l.Close())
	l = openEventLog(t, dir, opts)
	if r, err := l.ReadEvent(ctx, "after"); err != nil || r == nil || r.Key != more.Key {
		t.Fatalf("written after the restart: %+v, %v", r, err)
	}
	if r, err := l.ReadEvent(ctx, recs[0].ID); err != nil || r == nil || len(r.Log) != 3 {
		t.Fatalf("oldest record after two restarts: %+v, %v", r, err)
	}
	if r, err := l.ReadEvent(ctx, orphan.Key); err != nil || r == nil || r.ID != "" || r.State != StateDead ||
		len(r.Log) != 1 || !r.ReceivedAt.Equal(orphan.ReceivedAt) {
		t.Fatalf("attempts alone: %+v, %v", r, err)
	}
	if p := list(t, l, EventFilter{}); len(p.Events) != 31 {
		t.Fatalf("listed %d records, want 31", len(p.Events))
	}
}

// TestEventLogNothingRecorded: a store that records no event has no
// event log directory, even when asked to list or expire one.
func TestEventLogNothingRecorded(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	if p := list(t, l, EventFilter{}); len(p.Events) != 0 || p.Next != "" {
		t.Fatalf("empty log listed %+v", p)
	}
	if r, err := l.ReadEvent(ctx, "x"); r != nil || err != nil {
		t.Fatalf("empty log read %+v, %v", r, err)
	}
	must(t, l.ExpireEvents(ctx, time.Now(), 1))
	must(t, l.Close())
	if _, err := os.Stat(filepath.Join(dir, eventsDir)); !os.IsNotExist(err) {
		t.Fatalf("events directory: %v, want none", err)
	}
	if err := l.RecordEvents(ctx, EventBatch{Records: []EventRecord{eventAt(1, "p", "i")}}); err == nil {
		t.Fatal("a closed log recorded")
	}
}

// TestEventLogKeys: a record without a key gets EventKey's; a record or
// attempt whose key is no EventKey is left out and reported, the rest of
// its batch written.
func TestEventLogKeys(t *testing.T) {
	l := openLog(t, t.TempDir())
	keyless := eventAt(1, "stripe", "keyless")
	keyless.Key = ""
	bad := eventAt(2, "stripe", "bad")
	bad.Key = "not-a-key"
	err := l.RecordEvents(ctx, EventBatch{Records: []EventRecord{keyless, bad},
		Attempts: []EventAttempt{{Key: "not-a-key", Result: StateDead}}})
	if err == nil || !strings.Contains(err.Error(), "2 records or attempts") {
		t.Fatalf("RecordEvents: %v, want 2 left out", err)
	}
	p := list(t, l, EventFilter{})
	if got := eventIDs(p); !slices.Equal(got, []string{"keyless"}) ||
		p.Events[0].Key != EventKey(keyless.ReceivedAt, "stripe", "keyless") {
		t.Fatalf("listed %+v", p.Events)
	}
}

// TestEventLogTornTail: a frame a crash cut short at the end of the last
// segment is reported torn and cut off, costing the last call's record;
// the next writes follow the intact frames.
func TestEventLogTornTail(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	var ids []string
	for i := range 10 {
		r := eventAt(i, "stripe", fmt.Sprintf("t-%d", i))
		ids = append([]string{r.ID}, ids...)
		record(t, l, []EventRecord{r})
	}
	must(t, l.Close())
	seg := eventSegments(t, dir)[0]
	frames := eventFrames(t, seg)
	lastFrame := frames[len(frames)-1]
	must(t, os.Truncate(seg, lastFrame.end-7))

	var reports []Damage
	opts := LogOptions{OnDamage: func(d Damage) { reports = append(reports, d) }}
	l = openEventLog(t, dir, opts)
	want := Damage{Segment: seg, Offset: lastFrame.start, Length: lastFrame.end - 7 - lastFrame.start, Torn: true}
	if len(reports) != 1 || reports[0] != want {
		t.Fatalf("reported %+v, want %+v", reports, want)
	}
	if got := eventIDs(list(t, l, EventFilter{})); !slices.Equal(got, ids[1:]) {
		t.Fatalf("after the torn frame: %v, want %v", got, ids[1:])
	}
	record(t, l, []EventRecord{eventAt(20, "stripe", "after")})
	must(t, l.Close())
	reports = nil
	l = openEventLog(t, dir, opts)
	if got := eventIDs(list(t, l, EventFilter{})); len(reports) > 0 || !slices.Equal(got, append([]string{"after"}, ids[1:]...)) {
		t.Fatalf("reopened: %v (damage %+v)", got, reports)
	}
}

// TestEventLogDamagedFrames: a flipped byte costs the record or attempt
// of its frame only, in the last segment or a sealed one: the open
// reports and quarantines it, and reads every other record, and the
// attempts before and after a lost one.
func TestEventLogDamagedFrames(t *testing.T) {
	for name, size := range map[string]int64{"last segment": 0, "sealed segments": 1 << 10} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := LogOptions{eventSegmentSize: size}
			l := openEventLog(t, dir, opts)
			var recs []EventRecord
			for i := range 10 {
				recs = append(recs, eventAt(i, "stripe", fmt.Sprintf("d-%d", i)))
				record(t, l, recs[i:i+1])
			}
			for n := 1; n <= 3; n++ {
				record(t, l, nil, EventAttempt{Key: recs[0].Key, At: recs[0].ReceivedAt, Attempt: n,
					Result: StateRetrying, Error: fmt.Sprintf("try %d", n)})
			}
			for i := range 8 { // so that the damaged frames are sealed when segments are small
				record(t, l, []EventRecord{eventAt(20+i, "stripe", fmt.Sprintf("d-after-%d", i))})
			}
			must(t, l.Close())

			type hit struct {
				seg  string
				f    evFrame
				data []byte
			}
			var hits []hit
			segs := eventSegments(t, dir)
			for i, seg := range segs {
				data, err := os.ReadFile(seg)
				must(t, err)
				for _, f := range eventFrames(t, seg) {
					// The record d-5 and the second attempt.
					if f.typ == evRecord && bytes.Contains(data[f.start:f.end], []byte(`"d-5"`)) ||
						f.typ == evAttempt && bytes.Contains(data[f.start:f.end], []byte("try 2")) {
						if size > 0 && i == len(segs)-1 {
							t.Fatal("a damaged frame in the last segment")
						}
						data[(f.start+f.end)/2] ^= 0x40
						hits = append(hits, hit{seg, f, data})
					}
				}
				must(t, os.WriteFile(seg, data, 0o600))
			}

			var reports []Damage
			opts.OnDamage = func(d Damage) { reports = append(reports, d) }
			l = openEventLog(t, dir, opts)
			if len(hits) != 2 || len(reports) != 2 {
				t.Fatalf("damaged %d frames, reported %+v", len(hits), reports)
			}
			for i, h := range hits {
				q := fmt.Sprintf("%s.damaged-%d", h.seg, h.f.start)
				if d := reports[i]; d != (Damage{Segment: h.seg, Offset: h.f.start, Length: h.f.end - h.f.start, Quarantine: q}) {
					t.Fatalf("report %+v for the frame at %d", d, h.f.start)
				}
				if got, err := os.ReadFile(q); err != nil || !bytes.Equal(got, h.data[h.f.start:h.f.end]) {
					t.Fatalf("quarantine %s: %v", q, err)
				}
			}
			p := list(t, l, EventFilter{})
			if got := eventIDs(p); len(got) != 17 || slices.Contains(got, "d-5") || got[0] != "d-after-7" {
				t.Fatalf("listed %v, want all but d-5", got)
			}
			r, err := l.ReadEvent(ctx, recs[0].Key)
			must(t, err)
			if r == nil || r.Attempts != 2 || len(r.Log) != 2 || r.Log[0].Error != "try 1" || r.Log[1].Error != "try 3" {
				t.Fatalf("attempts around a damaged one: %+v", r)
			}
		})
	}
}

// TestEventLogExpire: expiry drops whole segments, hides records before
// the cutoff left in a kept segment (after a restart too), and trims the
// log to a byte cap by its oldest segments.
func TestEventLogExpire(t *testing.T) {
	dir := t.TempDir()
	opts := LogOptions{eventSegmentSize: 2 << 10}
	l := openEventLog(t, dir, opts)
	var all []EventRecord
	for i := range 40 {
		all = append(all, eventAt(i, "stripe", fmt.Sprintf("x-%02d", i)))
		record(t, l, all[i:i+1])
	}
	record(t, l, nil, EventAttempt{Key: all[5].Key, At: time.Now(), Result: StateDead}) // late, in a new segment
	before := len(eventSegments(t, dir))
	must(t, l.ExpireEvents(ctx, all[20].ReceivedAt, 0))
	after := len(eventSegments(t, dir))
	if after >= before {
		t.Fatalf("%d segments before expiry, %d after", before, after)
	}
	wantFrom := func(l EventLog, first int) {
		t.Helper()
		var want []string
		for i := 39; i >= first; i-- {
			want = append(want, all[i].ID)
		}
		if got := eventIDs(list(t, l, EventFilter{})); !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
		if r, err := l.ReadEvent(ctx, all[first-1].Key); r != nil || err != nil {
			t.Fatalf("an expired record is read: %+v, %v", r, err)
		}
		if r, err := l.ReadEvent(ctx, all[5].Key); r != nil || err != nil {
			t.Fatalf("an expired record's attempt is read: %+v, %v", r, err)
		}
	}
	wantFrom(l, 20)
	must(t, l.Close())
	l = openEventLog(t, dir, opts)
	wantFrom(l, 20)

	const maxBytes = 3 << 10
	must(t, l.ExpireEvents(ctx, time.Time{}, maxBytes))
	var total int64
	for _, name := range eventSegments(t, dir) {
		info, err := os.Stat(name)
		must(t, err)
		total += info.Size()
	}
	if total > maxBytes+opts.eventSegmentSize {
		t.Fatalf("%d bytes of segments left, want at most %d and a segment", total, maxBytes)
	}
	p := list(t, l, EventFilter{})
	if len(p.Events) == 0 || len(p.Events) >= 20 || p.Events[0].ID != "x-39" {
		t.Fatalf("capped: %v", eventIDs(p))
	}
	record(t, l, []EventRecord{eventAt(50, "stripe", "later")})
	if r, err := l.ReadEvent(ctx, "later"); r == nil || err != nil {
		t.Fatalf("recorded after expiry: %+v, %v", r, err)
	}
}

// TestEventLogConcurrent: listings, reads and expiry run while events are
// recorded (under -race).
func TestEventLogConcurrent(t *testing.T) {
	l := openEventLog(t, t.TempDir(), LogOptions{eventSegmentSize: 8 << 10})
	const n = 1500
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < n; i += 10 {
			var recs []EventRecord
			var atts []EventAttempt
			for j := i; j < i+10; j++ {
				r := eventAt(j, "stripe", fmt.Sprintf("c-%d", j))
				recs = append(recs, r)
				atts = append(atts, EventAttempt{Key: r.Key, At: r.ReceivedAt, Attempt: 1, Result: StateDelivered})
			}
			if err := l.RecordEvents(ctx, EventBatch{Records: recs, Attempts: atts}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reader := func(fn func(i int) error) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := fn(i); err != nil {
				t.Error(err)
				return
			}
		}
	}
	wg.Add(3)
	go reader(func(int) error {
		f := EventFilter{Limit: 50}
		for range 5 {
			p, err := l.ListEvents(ctx, f)
			if err != nil || p.Next == "" {
				return err
			}
			f.Cursor = p.Next
		}
		return nil
	})
	go reader(func(i int) error {
		_, err := l.ReadEvent(ctx, fmt.Sprintf("c-%d", i%n))
		return err
	})
	go reader(func(i int) error {
		time.Sleep(time.Millisecond)
		return l.ExpireEvents(ctx, eventBase.Add(time.Duration(min(i, n/2))*time.Second), 64<<10)
	})
	wg.Wait()
	p := list(t, l, EventFilter{Limit: 1})
	if len(p.Events) != 1 || p.Events[0].ID != fmt.Sprintf("c-%d", n-1) || p.Events[0].State != StateDelivered {
		t.Fatalf("newest after the run: %+v", p.Events)
	}
}

// TestEventLogIndexMemory: memory follows the records retained, at a few
// dozen bytes each (the index), whatever their bodies.
func TestEventLogIndexMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("records 200k events")
	}
	l := openLog(t, t.TempDir())
	const n, batch = 200_000, 1000
	body := bytes.Repeat([]byte("b"), 200)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	recs := make([]EventRecord, batch)
	for i := 0; i < n; i += batch {
		for j := range recs {
			// Answers finish a little out of order: every third pair
			// arrives swapped.
			at := i + j
			if j%6 == 0 {
				at++
			} else if j%6 == 1 {
				at--
			}
			r := eventAt(at, "stripe", fmt.Sprintf("m-%d", at))
			r.Body, r.BodySize = body, len(body)
			recs[j] = r
		}
		must(t, l.RecordEvents(ctx, EventBatch{Records: recs}))
	}
	clear(recs)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	// The blocks may live outside the heap (events_log_block_unix.go).
	blocks := int64(0)
	for _, blk := range l.ev.index.blocks {
		blocks += int64(cap(blk)) * int64(unsafe.Sizeof(evEntry{}))
	}
	perRecord := float64(int64(ms.HeapInuse)-int64(before)+blocks) / n
	t.Logf("%.1f bytes of memory a record", perRecord)
	if perRecord > 48 {
		t.Fatalf("%.1f bytes of memory a record, want at most 48 (40 an entry)", perRecord)
	}
	if r, err := l.ReadEvent(ctx, "m-12345"); err != nil || r == nil || !bytes.Equal(r.Body, body) {
		t.Fatalf("ReadEvent(m-12345) = %+v, %v", r, err)
	}
}

// BenchmarkEventLogList lists pages of 100 of 100k recorded 1 KB events,
// newest first and on with the cursor: all of them, and those of a filter
// that one record in ten matches.
func BenchmarkEventLogList(b *testing.B) {
	l := openLog(b, b.TempDir())
	const n, batch = 100_000, 1000
	body := bytes.Repeat([]byte("b"), 1<<10)
	recs := make([]EventRecord, batch)
	for i := 0; i < n; i += batch {
		for j := range recs {
			provider := "stripe"
			if (i+j)%10 == 0 {
				provider = "github"
			}
			r := eventAt(i+j, provider, fmt.Sprintf("b-%d", i+j))
			r.Body, r.BodySize = body, len(body)
			recs[j] = r
		}
		must(b, l.RecordEvents(ctx, EventBatch{Records: recs}))
	}
	for _, f := range []EventFilter{{Limit: 100}, {Limit: 100, Provider: "github"}} {
		b.Run("provider="+f.Provider, func(b *testing.B) {
			for b.Loop() {
				p, err := l.ListEvents(ctx, f)
				must(b, err)
				if len(p.Events) != 100 {
					b.Fatalf("a page of %d", len(p.Events))
				}
				f.Cursor = p.Next
				if p.Next == "" {
					f.Cursor = ""
				}
			}
		})
	}
}

// FuzzEventLogOpen: whatever a segment holds, the open neither fails on
// its frames nor panics, every listed record reads, and a record written
// after it is read back after a reopen.
func FuzzEventLogOpen(f *testing.F) {
	seed := eventSegmentSeed(f)
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add(seed[:segmentHeaderLen])
	f.Fuzz(fuzzEventLogOpen)
}

// eventSegmentSeed returns a segment of two records, attempts and an
// expiry cutoff.
func eventSegmentSeed(t testing.TB) []byte {
	s := &Log{dir: t.TempDir(), seed: maphash.MakeSeed()}
	_, err := s.eventLog()
	must(t, err)
	ev := eventAt(1, "mux", "f-1")
	must(t, s.RecordEvents(ctx, EventBatch{Records: []EventRecord{ev, eventAt(2, "mux", "f-2")}, Attempts: []EventAttempt{
		{Key: ev.Key, At: ev.ReceivedAt, Destination: "http://svc/", Attempt: 1, Status: 503, Result: StateRetrying},
		{Key: ev.Key, At: ev.ReceivedAt, Destination: "http://svc/", Attempt: 2, Status: 200, Result: StateDelivered},
	}}))
	must(t, s.ExpireEvents(ctx, eventBase, 0))
	must(t, s.closeEvents())
	seed, err := os.ReadFile(s.ev.segmentPath(1))
	must(t, err)
	return seed
}

func fuzzEventLogOpen(t *testing.T, data []byte) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, eventsDir), 0o700))
	path := filepath.Join(dir, eventsDir, fmt.Sprintf("%016x%s", 1, eventSegmentExt))
	must(t, os.WriteFile(path, data, 0o600))
	open := func() *Log {
		s := &Log{dir: dir, seed: maphash.MakeSeed()}
		if _, err := s.eventLog(); err != nil {
			if !strings.Contains(err.Error(), "format version") {
				t.Fatalf("open: %v", err)
			}
			return nil
		}
		return s
	}
	s := open()
	if s == nil {
		return
	}
	p, err := s.ListEvents(ctx, EventFilter{})
	must(t, err)
	for _, r := range p.Events {
		if full, err := s.ReadEvent(ctx, r.Key); err != nil || full == nil {
			t.Fatalf("listed %s, read %+v, %v", r.Key, full, err)
		}
	}
	after := eventAt(3, "mux", "after")
	must(t, s.RecordEvents(ctx, EventBatch{Records: []EventRecord{after}}))
	must(t, s.closeEvents())
	s = open()
	if s == nil {
		t.Fatal("reopen failed")
	}
	defer s.closeEvents()
	if s.ev.hideBefore > uint64(after.ReceivedAt.UnixNano()) {
		return // hidden by an expiry cutoff the segment holds
	}
	if r, err := s.ReadEvent(ctx, after.Key); err != nil || r == nil || r.ID != "after" {
		t.Fatalf("written after the open: %+v, %v", r, err)
	}
}

// openEventLog opens the store and its event log, which opens on first
// use, so that damage is reported before the test looks.
func openEventLog(t testing.TB, dir string, opts LogOptions) *Log {
	t.Helper()
	s := openLogWith(t, dir, opts)
	_, err := s.eventLog()
	must(t, err)
	return s
}
