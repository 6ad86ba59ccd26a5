package store

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogRestart: committed keys and queued events, with their retry and
// dead-letter state, survive close and reopen; uncommitted claims and
// leases do not need to.
func TestLogRestart(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	committed := claim("s", "k1", "n1")
	mustClaim(t, s, committed, Claimed)
	must(t, s.Commit(ctx, committed))
	queued := claim("s", "k2", "n2")
	mustClaim(t, s, queued, Claimed)
	must(t, s.Enqueue(ctx, queued, []string{destA, destB}, event("e1")))
	enqueue(t, s, []string{destA}, "e2", "e3", "e4")
	got := fetch(t, s, destA, "c1", 3, time.Minute)
	must(t, s.Ack(ctx, got[1]))
	got[0].Attempts, got[0].LastError = 1, "503"
	must(t, s.Retry(ctx, got[0], time.Now()))
	got[2].Attempts, got[2].LastError = 12, "gave up"
	must(t, s.Dead(ctx, got[2]))
	mustClaim(t, s, claim("s", "k3", "n3"), Claimed) // never committed
	must(t, s.Close())

	s = openLog(t, dir)
	mustClaim(t, s, claim("s", "k1", "n9"), Duplicate)
	mustClaim(t, s, committed, Replayed)
	mustClaim(t, s, claim("s", "k2", "n8"), Duplicate)
	mustClaim(t, s, queued, Replayed)
	mustClaim(t, s, claim("s", "k3", "n3"), Claimed) // an in-flight claim is not kept
	again := fetch(t, s, destA, "c2", 10, time.Minute)
	wantIDs(t, again, "e1", "e4")
	if again[0].Attempts != 1 || again[0].LastError != "503" {
		t.Fatalf("retried entry after reopen: %d attempts, %q", again[0].Attempts, again[0].LastError)
	}
	wantIDs(t, fetch(t, s, destB, "c2", 10, time.Minute), "e1")
	dead := deadPage(t, s, destA, "", 10, "e3")
	if dead[0].Attempts != 12 || dead[0].LastError != "gave up" {
		t.Fatalf("dead letter after reopen: %+v", dead[0])
	}
	// New events get new ids: none is mistaken for an old one.
	enqueue(t, s, []string{destA}, "e5")
	wantIDs(t, fetch(t, s, destA, "c2", 10, time.Minute), "e5")
}

// TestLogSweep: expired claims, committed or in flight, are dropped, and
// their records' bytes are no longer counted live (compaction relies on
// the count), whichever way a claim left: expiry, a new commit or Release.
func TestLogSweep(t *testing.T) {
	s := openLog(t, t.TempDir())
	short := Claim{Scope: "s", Key: "k", Nonce: "n", TTL: time.Millisecond, Lease: time.Millisecond}
	long := Claim{Scope: "s", Key: "long", TTL: time.Hour, Lease: time.Minute}
	recommitted := Claim{Scope: "s", Key: "again", TTL: time.Millisecond, Lease: time.Minute}
	released := Claim{Scope: "s", Key: "released", Nonce: "n", TTL: time.Millisecond, Lease: time.Minute}
	for _, c := range []Claim{short, long, recommitted, released} {
		mustClaim(t, s, c, Claimed)
		must(t, s.Commit(ctx, c))
	}
	time.Sleep(5 * time.Millisecond)
	recommitted.TTL = time.Hour
	mustClaim(t, s, recommitted, Claimed) // expired keys read as free
	must(t, s.Commit(ctx, recommitted))
	mustClaim(t, s, released, Claimed)
	must(t, s.Release(ctx, released))
	mustClaim(t, s, Claim{Scope: "s", Key: "uncommitted", Lease: time.Millisecond}, Claimed)
	time.Sleep(5 * time.Millisecond)

	s.sweep(time.Now().UnixNano())
	s.mu.Lock()
	var live, kept int64
	for _, seg := range s.segs {
		live += seg.live.Load()
	}
	for _, rec := range s.claims {
		kept += int64(rec.size)
	}
	n := len(s.claims)
	s.mu.Unlock()
	if n != 2 || live != kept {
		t.Fatalf("after sweep: %d claims (want long and again), %d live bytes, want %d", n, live, kept)
	}
	mustClaim(t, s, recommitted, Duplicate)
	mustClaim(t, s, long, Duplicate)
}

// TestLogReplayExpired: an expired claim record (a compaction's copy of a
// record that expired meanwhile) forgets the committed entry of its key,
// never a new claim in flight.
func TestLogReplayExpired(t *testing.T) {
	s := openLog(t, t.TempDir())
	committed, inFlight := claim("s", "committed", "n1"), claim("s", "in flight", "n1")
	mustClaim(t, s, committed, Claimed)
	must(t, s.Commit(ctx, committed))
	mustClaim(t, s, inFlight, Claimed)
	now := time.Now().UnixNano()
	s.mu.Lock()
	seg := s.segs[len(s.segs)-1]
	for _, c := range []Claim{committed, inFlight} {
		s.replayClaim(seg, 10, s.claimHash(c), now-1, nonceDigest(c.Nonce), now)
	}
	s.mu.Unlock()
	mustClaim(t, s, claim("s", "committed", "n2"), Claimed)
	mustClaim(t, s, claim("s", "in flight", "n2"), InProgress)
}

func TestLogClosed(t *testing.T) {
	s := openLog(t, t.TempDir())
	must(t, s.Close())
	must(t, s.Close())
	c := claim("s", "k", "n")
	_, claimErr := s.Claim(ctx, c)
	_, fetchErr := s.Fetch(ctx, destA, "c", 1, time.Minute)
	_, statsErr := s.Stats(ctx, destA)
	_, deadErr := s.DeadLetters(ctx, destA, "", 1)
	for name, err := range map[string]error{
		"Ping":        s.Ping(ctx),
		"Claim":       claimErr,
		"Commit":      s.Commit(ctx, c),
		"Enqueue":     s.Enqueue(ctx, c, []string{destA}, event("e")),
		"Fetch":       fetchErr,
		"Stats":       statsErr,
		"DeadLetters": deadErr,
	} {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestOpenLogErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	must(t, os.WriteFile(file, []byte("x"), 0o600))
	if _, err := OpenLog(file, LogOptions{}); err == nil {
		t.Fatal("a file as the directory must fail")
	}
	openLog(t, filepath.Join(dir, "store"))
	defer func(was time.Duration) { lockTimeout = was }(lockTimeout)
	lockTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err := OpenLog(filepath.Join(dir, "store"), LogOptions{})
	if err == nil || !strings.Contains(err.Error(), "another Caddy") {
		t.Fatalf("a directory in use must fail with a clear error, got %v", err)
	}
	if waited := time.Since(start); waited < lockTimeout {
		t.Fatalf("gave up after %v, want a wait of %v for a restarting process", waited, lockTimeout)
	}
}

// TestLogTornTail: a frame cut short by a crash at the end of the log (its
// bytes run out before its declared end) is dropped at the next open and
// reported as torn, not as damage; what came before it is intact.
func TestLogTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	enqueue(t, s, []string{destA}, "e1", "e2", "e3")
	must(t, s.Close())
	seg := lastSegment(t, dir)
	data, err := os.ReadFile(seg)
	must(t, err)
	frames := segmentFrames(t, seg)
	last := frames[len(frames)-1]
	frame := data[last.start:last.end]
	zeroedEnd := append(slices.Clone(frame[:len(frame)-3]), 0, 0, 0)
	for name, tail := range map[string][]byte{
		"half a frame":            frame[:len(frame)/2],
		"a frame ending in zeros": zeroedEnd,
		"part of a header":        frame[:10],
		"three bytes":             {0, 0, 1},
	} {
		t.Run(name, func(t *testing.T) {
			// The crash's file: whole frames, the torn one, the zeros
			// filled in ahead.
			file := append(slices.Clone(data[:last.start]), tail...)
			must(t, os.WriteFile(seg, append(file, make([]byte, 4096)...), 0o600))
			var reports []Damage
			s := openLogWith(t, dir, LogOptions{OnDamage: func(d Damage) { reports = append(reports, d) }})
			if after, _ := os.Stat(seg); after.Size() != last.start {
				t.Fatalf("torn tail kept: %d bytes, want %d", after.Size(), last.start)
			}
			wantIDs(t, fetch(t, s, destA, "c", 10, time.Minute), "e1", "e2")
			if len(reports) != 1 || !reports[0].Torn || reports[0].Offset != last.start || reports[0].Quarantine != "" {
				t.Fatalf("reported %+v, want one torn frame at %d", reports, last.start)
			}
			must(t, s.Close())
			wantQuarantined(t, dir)
		})
	}
}

// segmentFrames lists the intact frames of a segment file in order, up to
// the first that is not.
func segmentFrames(t *testing.T, path string) []span {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	m, _, ok := parseSegmentHeader(data)
	if !ok {
		t.Fatalf("%s: no intact header", path)
	}
	var out []span
	for off := int64(segmentHeaderLen); ; {
		_, n, err := parseFrame(data[off:], m)
		if err != nil {
			return out
		}
		out = append(out, span{off, off + n})
		off += n
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	must(t, err)
	if len(names) == 0 {
		t.Fatal("no segment")
	}
	return names[len(names)-1]
}

// TestLogCompaction: with small segments, delivered events and expired
// claims are compacted away, and what is live (ready, retrying, dead,
// leased, committed) is the same before and after compaction and after a
// reopen.
func TestLogCompaction(t *testing.T) {
	dir := t.TempDir()
	// The last segment compacted, as it was just before its deletion.
	var lastMu sync.Mutex
	var lastName string
	var lastData []byte
	opts := LogOptions{SegmentSize: 4 << 10, SweepInterval: time.Hour, beforeDelete: func(path string) {
		data, err := os.ReadFile(path)
		lastMu.Lock()
		defer lastMu.Unlock()
		if err == nil {
			lastName, lastData = filepath.Base(path), data
		}
	}}
	s := openLogWith(t, dir, opts)
	kept := claim("s", "k-kept", "n-kept")
	mustClaim(t, s, kept, Claimed)
	must(t, s.Commit(ctx, kept))
	enqueue(t, s, []string{destA, destB}, "r1", "r2", "d1", "l1")
	got := fetch(t, s, destA, "c", 4, time.Minute)
	wantIDs(t, got, "r1", "r2", "d1", "l1")
	got[1].Attempts = 3
	must(t, s.Retry(ctx, got[1], time.Now().Add(time.Hour)))
	got[2].Attempts = 12
	must(t, s.Dead(ctx, got[2]))
	must(t, s.Ack(ctx, got[0]))
	// Plenty of garbage: delivered events and short claims, over many
	// segments.
	for i := range 200 {
		id := fmt.Sprint("g", i)
		enqueue(t, s, []string{destA}, id)
		c := Claim{Scope: "s", Key: id, TTL: time.Millisecond, Lease: time.Minute}
		mustClaim(t, s, c, Claimed)
		must(t, s.Commit(ctx, c))
	}
	for {
		ds := fetch(t, s, destA, "c", 50, time.Minute)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			must(t, s.Ack(ctx, d))
		}
	}
	time.Sleep(5 * time.Millisecond)
	s.sweep(time.Now().UnixNano())
	waitFor(t, func() bool {
		// Writes that leave only garbage keep the writer going.
		must(t, s.Commit(ctx, Claim{Scope: "s", Key: "tick"}))
		return segmentBytes(t, dir) <= 3*opts.SegmentSize
	})
	s.mu.Lock()
	first := s.segs[0].id
	s.mu.Unlock()
	if first < 10 {
		t.Fatalf("oldest segment %d: the first ones were not compacted", first)
	}

	check := func(s *Log) {
		t.Helper()
		mustClaim(t, s, kept, Replayed)
		mustClaim(t, s, claim("s", "k-kept", "n-other"), Duplicate)
		wantStats(t, s, destA, 0, 0, 1, 1)
		wantIDs(t, fetch(t, s, destB, "c", 10, time.Minute), "r1", "r2", "d1", "l1")
		dead := deadPage(t, s, destA, "", 10, "d1")
		if dead[0].Attempts != 12 {
			t.Fatalf("dead letter attempts %d after compaction", dead[0].Attempts)
		}
	}
	// l1 stays leased to "c" across compaction: its lease is kept.
	if n := len(fetch(t, s, destA, "other", 10, time.Minute)); n != 0 {
		t.Fatalf("%d entries fetched while leased or not due", n)
	}
	must(t, s.Ack(ctx, got[3]))
	check(s)
	must(t, s.Close())
	s = openLogWith(t, dir, opts)
	check(s)
	must(t, s.Close())

	// A crash after the copies of the last compacted segment were written
	// but before it was deleted: replaying both gives the same state.
	lastMu.Lock()
	if lastName == "" {
		t.Fatal("no segment was compacted")
	}
	must(t, os.WriteFile(filepath.Join(dir, lastName), lastData, 0o600))
	lastMu.Unlock()
	s = openLogWith(t, dir, opts)
	check(s)
}

func segmentBytes(t *testing.T, dir string) (n int64) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	must(t, err)
	for _, name := range names {
		if info, err := os.Stat(name); err == nil {
			n += info.Size()
		}
	}
	return n
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogGroupCommit: concurrent writes share frames, and every one of
// them lands exactly once.
func TestLogGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Enqueue(ctx, Claim{}, []string{destA}, event(fmt.Sprint(w, "-", i)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	seen := map[string]bool{}
	for {
		ds := fetch(t, s, destA, "c", 100, time.Minute)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if seen[d.ID] {
				t.Fatalf("%s fetched twice", d.ID)
			}
			seen[d.ID] = true
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d events, want %d", len(seen), writers*each)
	}
	if frames := len(segmentFrames(t, lastSegment(t, dir))); frames >= writers*each {
		t.Fatalf("%d frames for %d concurrent writes: no group commit", frames, writers*each)
	}
}

// TestLogStaleHandle: a consumer whose lease was taken over cannot retry or
// bury the entry another consumer now holds.
func TestLogStaleHandle(t *testing.T) {
	s := openLog(t, t.TempDir())
	enqueue(t, s, []string{destA}, "e1")
	first := fetch(t, s, destA, "c1", 1, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	second := fetch(t, s, destA, "c2", 1, time.Minute)
	wantIDs(t, second, "e1")
	must(t, s.Dead(ctx, first[0]))
	must(t, s.Retry(ctx, first[0], time.Now()))
	wantStats(t, s, destA, 0, 1, 0, 0)
	must(t, s.Ack(ctx, second[0]))
	wantStats(t, s, destA, 0, 0, 0, 0)
	for _, h := range []string{"", "x", "1", "1.x", "x.1"} {
		if err := s.Ack(ctx, Delivery{Destination: destA, Handle: h}); err == nil {
			t.Errorf("Ack with handle %q: no error", h)
		}
	}
}

func TestEntryCodec(t *testing.T) {
	for _, ev := range []Event{
		event("e1"),
		{ID: "empty", ReceivedAt: time.Unix(0, 1)},
		{ID: "many", Header: http.Header{"A": make([]string, 40)}, Body: make([]byte, 1<<16), ReceivedAt: time.Unix(1700000000, 5)},
	} {
		var d Delivery
		must(t, decodeEntry(encodeEntry(ev, 7, "last"), &d))
		if d.Attempts != 7 || d.LastError != "last" || !reflect.DeepEqual(d.Event.Header, ev.Header) ||
			d.ID != ev.ID || string(d.Body) != string(ev.Body) || !d.ReceivedAt.Equal(ev.ReceivedAt) {
			t.Fatalf("round trip of %s: %+v", ev.ID, d)
		}
	}
	b := encodeEntry(event("e1"), 1, "")
	for _, cut := range []int{0, 1, 5, len(b) - 1} {
		var d Delivery
		if err := decodeEntry(b[:cut], &d); !errors.Is(err, errCorrupt) {
			t.Fatalf("truncated at %d: %v", cut, err)
		}
	}
}

// FuzzLogOpen: whatever a crash or a damaged disk leaves in the last
// segment, opening either cuts it off, skips it, or fails with a segment
// of another format; it never panics, and the store then works.
func FuzzLogOpen(f *testing.F) {
	var frame []byte
	frame = appendHeaderRecord(frame, 7)
	frame = appendClaimRecord(frame, time.Now().Add(time.Hour).UnixNano(), nonceDigest("n"), "s", "k")
	frame = appendEventRecord(frame, 3, 1, []entryState{{dest: destA, state: stateRetry, attempts: 2, due: 5}}, encodeEntry(event("e"), 0, ""))
	frame = appendStateRecord(frame, 3, entryState{dest: destA, state: stateDead, lastErr: "x"})
	header, m := newSegmentHeader()
	whole := append(make([]byte, frameHeader), frame...)
	putFrameHeader(whole, m)
	file := append(append(slices.Clone(header), whole...), whole...)
	f.Add(file)
	f.Add(file[:len(file)-3])
	flipped := slices.Clone(file)
	flipped[len(header)+frameHeader+9] ^= 1
	f.Add(flipped)
	f.Add(append(slices.Clone(header), frame...))
	f.Add(frame)
	predecessor, err := os.ReadFile("testdata/predecessor/0000000000000001.wal")
	must(f, err)
	f.Add(predecessor)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "0000000000000001.wal"), data, 0o600))
		s, err := OpenLog(dir, LogOptions{})
		if err != nil {
			if !strings.Contains(err.Error(), "segment") {
				t.Fatalf("open failed without naming the segment's format: %v", err)
			}
			return
		}
		defer s.Close()
		enqueue(t, s, []string{destA}, "after")
		if _, err := s.Fetch(ctx, destA, "c", 10, time.Minute); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLogLazyWrites: a dedup commit and an acknowledgement apply at once
// without waiting for the fdatasync, and are synced by the next durable
// write, by Close, or within the interval.
func TestLogLazyWrites(t *testing.T) {
	dir := t.TempDir()
	// No timed sync in the way of the steps below.
	s := openLogWith(t, dir, LogOptions{lazySync: time.Hour})
	wantUnsynced := func(step string, want bool) {
		t.Helper()
		if got := s.unsynced.Load(); got != want {
			t.Fatalf("after %s: unsynced %v, want %v", step, got, want)
		}
	}
	c := claim("s", "k1", "n1")
	mustClaim(t, s, c, Claimed)
	must(t, s.Commit(ctx, c))
	wantUnsynced("a commit", true)
	mustClaim(t, s, c, Replayed)
	enqueue(t, s, []string{destA}, "e1", "e2")
	wantUnsynced("an enqueue", false)

	got := fetch(t, s, destA, "c1", 2, time.Minute)
	must(t, s.Ack(ctx, got[0]))
	wantUnsynced("an ack", true)
	must(t, s.Retry(ctx, got[1], time.Now()))
	wantUnsynced("a retry", false)

	c2 := claim("s", "k2", "n2")
	mustClaim(t, s, c2, Claimed)
	must(t, s.Commit(ctx, c2))
	must(t, s.Close())
	wantUnsynced("Close", false)

	const interval = 50 * time.Millisecond
	s = openLogWith(t, dir, LogOptions{lazySync: interval})
	mustClaim(t, s, claim("s", "k2", "n3"), Duplicate)
	wantIDs(t, fetch(t, s, destA, "c2", 10, time.Minute), "e2")
	c3 := claim("s", "k3", "n3")
	mustClaim(t, s, c3, Claimed)
	must(t, s.Commit(ctx, c3))
	deadline := time.Now().Add(20 * interval)
	for s.unsynced.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("lazy writes still unsynced after %v", 20*interval)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
