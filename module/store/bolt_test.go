package store

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestBoltRestart: committed keys and queued events survive close and
// reopen; uncommitted claims and leases do not need to.
func TestBoltRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openBolt(t, path)
	committed := claim("s", "n1", "k1")
	mustClaim(t, s, committed, Claimed)
	must(t, s.Commit(ctx, committed))
	queued := claim("s", "n2", "k2")
	mustClaim(t, s, queued, Claimed)
	must(t, s.Enqueue(ctx, queued, []string{destA, destB}, event("e1")))
	enqueue(t, s, []string{destA}, "e2", "e3")
	got := fetch(t, s, destA, "c1", 2, time.Minute)
	must(t, s.Ack(ctx, got[1]))
	must(t, s.Retry(ctx, got[0], time.Now()))
	mustClaim(t, s, claim("s", "n3", "k3"), Claimed) // never committed
	must(t, s.Close())

	s = openBolt(t, path)
	mustClaim(t, s, claim("s", "n9", "k1"), Duplicate)
	mustClaim(t, s, claim("s", "n1", "k9"), Replayed)
	mustClaim(t, s, claim("s", "n8", "k2"), Duplicate)
	mustClaim(t, s, claim("s", "n3", "k3"), Claimed)
	wantIDs(t, fetch(t, s, destA, "c2", 10, time.Minute), "e1", "e3")
	wantIDs(t, fetch(t, s, destB, "c2", 10, time.Minute), "e1")
}

func TestBoltSweep(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"))
	short := Claim{Scope: "s", Nonce: "n", NonceTTL: time.Millisecond, Key: "k", Window: time.Millisecond, Lease: time.Millisecond}
	long := Claim{Scope: "s", Key: "long", Window: time.Hour, Lease: time.Minute}
	recommitted := Claim{Scope: "s", Key: "again", Window: time.Millisecond, Lease: time.Minute}
	for _, c := range []Claim{short, long, recommitted} {
		mustClaim(t, s, c, Claimed)
		must(t, s.Commit(ctx, c))
	}
	time.Sleep(5 * time.Millisecond)
	recommitted.Window = time.Hour
	mustClaim(t, s, recommitted, Claimed) // expired keys read as absent
	must(t, s.Commit(ctx, recommitted))
	mustClaim(t, s, Claim{Scope: "s", Key: "uncommitted", Lease: time.Millisecond}, Claimed)
	time.Sleep(5 * time.Millisecond)

	must(t, s.sweep(time.Now()))
	var keys []string
	must(t, s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(claimsBucket).ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	}))
	want := []string{claimKey('d', "s", "again"), claimKey('d', "s", "long")}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("after sweep: %q, want %q", keys, want)
	}
	if n := sweepEntries(t, s); n != 2 {
		t.Fatalf("%d sweep entries left, want 2 (long's and again's)", n)
	}
	if n := len(s.inflight); n != 0 {
		t.Fatalf("%d expired in-memory claims left", n)
	}
	mustClaim(t, s, recommitted, Duplicate)
}

func sweepEntries(t *testing.T, s *Bolt) (n int) {
	t.Helper()
	must(t, s.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(sweepBucket).Stats().KeyN; return nil }))
	return n
}

func TestBoltClosed(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"))
	must(t, s.Close())
	must(t, s.Close())
	c := claim("s", "n", "k")
	_, claimErr := s.Claim(ctx, c)
	_, fetchErr := s.Fetch(ctx, destA, "c", 1, time.Minute)
	_, statsErr := s.Stats(ctx, destA)
	for name, err := range map[string]error{
		"Ping":    s.Ping(ctx),
		"Claim":   claimErr,
		"Commit":  s.Commit(ctx, c),
		"Enqueue": s.Enqueue(ctx, c, []string{destA}, event("e")),
		"Fetch":   fetchErr,
		"Stats":   statsErr,
	} {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestOpenBoltErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	must(t, os.WriteFile(file, []byte("x"), 0o600))
	if _, err := OpenBolt(filepath.Join(file, "store.db")); err == nil {
		t.Fatal("a file as the directory must fail")
	}
	if _, err := OpenBolt(file); err == nil {
		t.Fatal("a file that is not a bbolt database must fail")
	}
}

// TestBoltGroupCommit: concurrent writes share transactions, and one
// failing write fails alone.
func TestBoltGroupCommit(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"))
	const writers, each = 32, 20
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Enqueue(ctx, Claim{}, []string{destA}, event(fmt.Sprint(w, "-", i)))
			}
		})
	}
	var failed error
	wg.Go(func() { failed = s.write(func(*bbolt.Tx) error { return boom }) })
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if !errors.Is(failed, boom) {
		t.Fatalf("failing write: %v", failed)
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

// TestBoltFetchResumes: Fetch resumes after the entries it leased, yet an
// entry whose lease lapsed, or that a Retry made due, is fetched again.
func TestBoltFetchResumes(t *testing.T) {
	s := openBolt(t, filepath.Join(t.TempDir(), "store.db"))
	enqueue(t, s, []string{destA}, "e1", "e2", "e3", "e4", "e5")
	short := fetch(t, s, destA, "dead", 1, 50*time.Millisecond)
	wantIDs(t, short, "e1")
	wantIDs(t, fetch(t, s, destA, "c", 2, time.Minute), "e2", "e3")
	got := fetch(t, s, destA, "c", 1, time.Minute)
	wantIDs(t, got, "e4")
	must(t, s.Ack(ctx, got[0]))
	enqueue(t, s, []string{destA}, "e6")
	wantIDs(t, fetch(t, s, destA, "c", 1, time.Minute), "e5")
	time.Sleep(100 * time.Millisecond) // the "dead" consumer's lease lapses
	wantIDs(t, fetch(t, s, destA, "c", 10, time.Minute), "e1", "e6")
	wantIDs(t, fetch(t, s, destA, "c", 10, time.Minute))
}

// TestBoltLegacyExpiryIndex: a file whose expiry index has one entry per
// record (before the sweep bucket) opens, and its records are still swept.
func TestBoltLegacyExpiryIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := bbolt.Open(path, 0o600, nil)
	must(t, err)
	exp := time.Now().Add(time.Millisecond)
	must(t, db.Update(func(tx *bbolt.Tx) error {
		claims, err := tx.CreateBucket(claimsBucket)
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucket(legacyExpiryBucket)
		if err != nil {
			return err
		}
		for _, c := range []struct {
			key string
			exp time.Time
		}{{claimKey('n', "s", "old"), exp}, {claimKey('d', "s", "live"), exp.Add(time.Hour)}} {
			if err := claims.Put([]byte(c.key), appendTime(nil, c.exp)); err != nil {
				return err
			}
			if err := idx.Put(append(appendTime(nil, c.exp), c.key...), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, db.Close())

	s := openBolt(t, path)
	mustClaim(t, s, Claim{Scope: "s", Key: "live", Window: time.Hour, Lease: time.Minute}, Duplicate)
	must(t, s.sweep(exp.Add(time.Second)))
	must(t, s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(legacyExpiryBucket) != nil {
			t.Error("legacy index kept")
		}
		if tx.Bucket(claimsBucket).Get([]byte(claimKey('n', "s", "old"))) != nil {
			t.Error("expired legacy record not swept")
		}
		return nil
	}))
	if n := sweepEntries(t, s); n != 1 {
		t.Errorf("%d sweep entries left, want 1 (the live record's)", n)
	}
}
