package store

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// TestRedisEventCluster: the event log works on a Cluster, its keys
// sharing one slot.
func TestRedisEventCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	for _, c := range eventConformance {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newRedis(t, RedisConfig{Addrs: cluster.Addrs(), KeyPrefix: uniquePrefix()}))
		})
	}
}

// redisEvents is n records of provider "p", one a second from start, ids
// e0, e1, ... and bodies of size bytes.
func redisEvents(start time.Time, n, size int) []EventRecord {
	recs := make([]EventRecord, n)
	body := bytes.Repeat([]byte("x"), size)
	for i := range recs {
		at := start.Add(time.Duration(i) * time.Second)
		id := "e" + strconv.Itoa(i)
		recs[i] = EventRecord{Key: EventKey(at, "p", id), ID: id, Provider: "p", Scope: "s", Type: "t", Async: true,
			ReceivedAt: at, Answer: 202, Destinations: []string{"http://svc/hook"}, State: StateQueued, BodySize: size,
			Body: body}
	}
	return recs
}

// firstAttempts is one delivered attempt for each of recs.
func firstAttempts(recs []EventRecord) []EventAttempt {
	out := make([]EventAttempt, len(recs))
	for i, r := range recs {
		out[i] = EventAttempt{Key: r.Key, At: r.ReceivedAt, Destination: "http://svc/hook", Attempt: 1, Status: 200,
			Result: StateDelivered}
	}
	return out
}

// TestRedisEventRecordOneRoundTrip: a batch larger than one script call is
// still one round trip, and costs Redis per run of records one SET; per
// record a member of a ZADD (of up to maxEventChunk); per script call and
// hour of ids one HMGET, HSET and PEXPIRETIME; per first attempt HINCRBY,
// HSET, ZRANGE, PEXPIRETIME (its run's) and PEXPIREAT; per batch the
// index's two PEXPIREATs (NX, GT).
func TestRedisEventRecordOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "rt:"})
	// One hour of ids, which the first call creates with its expiry.
	start := time.Now().Add(-time.Hour).Truncate(time.Hour).Add(2 * time.Minute)
	// The first call loads the script.
	must(t, r.RecordEvents(ctx, EventBatch{Records: redisEvents(start.Add(-time.Minute), 1, 10), Retain: 2 * time.Hour}))

	recs := redisEvents(start, 300, 10) // ids in 2 calls, attempts in the second and a third
	for i := range recs {               // one run
		recs[i].ReceivedAt = start.Add(time.Duration(i) * time.Millisecond)
		recs[i].Key = EventKey(recs[i].ReceivedAt, "p", recs[i].ID)
	}
	hook := &roundTrips{}
	r.Client().AddHook(hook)
	servers := []*redistest.Server{srv}
	before := commandStats(t, servers)
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs, Attempts: firstAttempts(recs), Retain: 2 * time.Hour}))
	if n := hook.n.Load(); n != 1 {
		t.Errorf("RecordEvents took %d round trips", n)
	}
	want := map[string]int64{"evalsha": 3, "set": 1, "zadd": 2, "pexpireat": 300 + 2, "hmget": 2, "hincrby": 300,
		"hset": 2 + 300, "zrange": 300, "pexpiretime": 2 + 300}
	if got := commandsSince(t, servers, before); !maps.Equal(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	p := list(t, r, EventFilter{Limit: 1000})
	if len(p.Events) != 301 || p.Events[0].ID != "e299" || p.Events[0].State != StateDelivered || p.Events[0].Attempts != 1 {
		t.Fatalf("listed %d, newest %+v", len(p.Events), p.Events[0])
	}
}

// TestRedisEventScriptCacheLost: after SCRIPT FLUSH a batch is written
// once, its attempts not counted twice.
func TestRedisEventScriptCacheLost(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "flush:"})
	recs := redisEvents(time.Now(), 2, 10)
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs[:1], Retain: time.Hour}))
	if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs[1:], Attempts: firstAttempts(recs), Retain: time.Hour}))
	for _, rec := range recs {
		got, err := r.ReadEvent(ctx, rec.Key)
		must(t, err)
		if got == nil || got.Attempts != 1 || len(got.Log) != 1 {
			t.Fatalf("after the script cache was lost: %+v", got)
		}
	}
}

// TestRedisEventSkips: records and attempts whose retention is over, or
// whose key is no EventKey, cost the log themselves only; an older record
// of a Webhook-Id does not take its id from a newer one.
func TestRedisEventSkips(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "skip:"})
	recs := redisEvents(time.Now().Add(-time.Hour), 3, 10)
	recs[0].ReceivedAt = time.Now().Add(-3 * time.Hour)
	recs[0].Key = EventKey(recs[0].ReceivedAt, "p", recs[0].ID) // past its 2h retention
	recs[1].Key = "not-a-key"
	stale := EventAttempt{Key: recs[0].Key, At: time.Now(), Result: StateDelivered}
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs, Attempts: []EventAttempt{stale}, Retain: 2 * time.Hour}))
	if got := eventIDs(list(t, r, EventFilter{})); !slices.Equal(got, []string{"e2"}) {
		t.Fatalf("listed %v, want [e2]", got)
	}
	if n, err := srv.Do("DBSIZE"); err != nil || n != "3" { // e2's run and id key, the index
		t.Fatalf("DBSIZE = %s, %v; want 3", n, err)
	}
	if err := r.RecordEvents(ctx, EventBatch{Records: recs[2:]}); err == nil {
		t.Fatal("a batch without a retention was written")
	}

	newer := redisEvents(time.Now(), 1, 10)[0]
	older := newer
	older.ReceivedAt = newer.ReceivedAt.Add(-time.Minute)
	older.Key = EventKey(older.ReceivedAt, "q", newer.ID)
	must(t, r.RecordEvents(ctx, EventBatch{Records: []EventRecord{newer}, Retain: time.Hour}))
	must(t, r.RecordEvents(ctx, EventBatch{Records: []EventRecord{older}, Retain: time.Hour}))
	if got, err := r.ReadEvent(ctx, newer.ID); err != nil || got == nil || got.Key != newer.Key {
		t.Fatalf("ReadEvent(%s) = %+v, %v; want the newer record", newer.ID, got, err)
	}
	at, err := r.Client().PExpireTime(ctx, r.evTag()+"ids:"+eventHour(newer.Key)).Result()
	must(t, err)
	if want := newer.ReceivedAt.Truncate(time.Hour).Add(2 * time.Hour).UnixMilli(); at.Milliseconds() != want {
		t.Fatalf("the hour of ids expires at %d, want %d (its end plus the retention)", at.Milliseconds(), want)
	}
}

// redisInfo is the number a field of INFO section reads.
func redisInfo(t testing.TB, srv *redistest.Server, section, field string) float64 {
	t.Helper()
	info, err := srv.Do("INFO", section)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("INFO %s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// TestRedisEventListReadsMetadataOnly: 20,000 records listed page by page
// come back once each, newest first, and a page costs what its metadata
// does (the bytes Redis sends: INFO's total_net_output_bytes), though
// some records hold a body of 1 MB.
func TestRedisEventListReadsMetadataOnly(t *testing.T) {
	const n, big = 20000, 1 << 20
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "meta:"})
	recs := redisEvents(time.Now().Add(-10*time.Hour), n, 100)
	large := bytes.Repeat([]byte("b"), big)
	for i := 500; i < n; i += 5000 { // one in each of 4 pages
		recs[i].Body, recs[i].BodySize = large, big
	}
	for chunk := range slices.Chunk(recs, 2000) {
		must(t, r.RecordEvents(ctx, EventBatch{Records: chunk, Retain: 24 * time.Hour}))
	}

	f := EventFilter{Limit: MaxEventPage}
	want := n - 1
	for pages := 0; ; pages++ {
		if pages > n/MaxEventPage+1 {
			t.Fatal("paging does not end")
		}
		sent := redisInfo(t, srv, "stats", "total_net_output_bytes")
		p := list(t, r, f)
		// Its refs (index), a prefix of each record (here its metadata of
		// about 40 bytes, header and body of 100) and its attempts' nils:
		// under 250 bytes a record.
		if b := redisInfo(t, srv, "stats", "total_net_output_bytes") - sent; b > 250*MaxEventPage {
			t.Fatalf("page %d: Redis sent %.0f bytes for %d records", pages, b, len(p.Events))
		}
		for _, e := range p.Events {
			if e.ID != "e"+strconv.Itoa(want) || e.BodySize != recs[want].BodySize {
				t.Fatalf("page %d: %s (%d bytes), want e%d", pages, e.ID, e.BodySize, want)
			}
			want--
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if want != -1 {
		t.Fatalf("listed down to e%d", want+1)
	}
	got, err := r.ReadEvent(ctx, recs[500].Key)
	must(t, err)
	if got == nil || !bytes.Equal(got.Body, large) {
		t.Fatalf("ReadEvent of a 1 MB body: %v", got != nil)
	}
}

// TestRedisEventExpiry: records expire on their own at ReceivedAt plus
// Retain, however many attempts (a replay's included) come later; a
// listing drops their keys from the index, and the index expires with its
// newest record.
func TestRedisEventExpiry(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "exp:"})
	kept := redisEvents(time.Now().Add(-time.Minute), 1, 10)
	kept[0].ID = "kept"
	kept[0].Key = EventKey(kept[0].ReceivedAt, "p", "kept")
	must(t, r.RecordEvents(ctx, EventBatch{Records: kept, Retain: time.Hour}))
	short := redisEvents(time.Now(), 3, 10)
	for i := range short {
		short[i].ReceivedAt = time.Now().Add(time.Duration(i) * time.Millisecond)
		short[i].Key = EventKey(short[i].ReceivedAt, "p", short[i].ID)
	}
	must(t, r.RecordEvents(ctx, EventBatch{Records: short, Retain: time.Second}))
	replay := firstAttempts(short[:1])
	replay[0].At, replay[0].Replay = time.Now().Add(500*time.Millisecond), true
	must(t, r.RecordEvents(ctx, EventBatch{Attempts: replay, Retain: time.Hour}))

	expiry := func(key string) int64 {
		t.Helper()
		at, err := r.Client().PExpireTime(ctx, r.evTag()+key).Result()
		must(t, err)
		return at.Milliseconds()
	}
	// The records are one run: it expires with the newest.
	want := short[2].ReceivedAt.Add(time.Second).UnixMilli()
	if got := expiry("r:" + short[0].Key); got != want {
		t.Fatalf("the run expires at %d, want %d", got, want)
	}
	if got := expiry("a:" + short[0].Key); got != want {
		t.Fatalf("a replay's attempt expires at %d, want %d (its run's)", got, want)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		p := list(t, r, EventFilter{})
		if slices.Equal(eventIDs(p), []string{"kept"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records of 1 s retention still listed: %v", eventIDs(p))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, rec := range short {
		for _, ref := range []string{rec.Key, rec.ID} {
			if got, err := r.ReadEvent(ctx, ref); err != nil || got != nil {
				t.Fatalf("ReadEvent(%s) of an expired record = %+v, %v", ref, got, err)
			}
		}
	}
	if n, err := r.Client().ZCard(ctx, r.evTag()+"idx").Result(); err != nil || n != 1 {
		t.Fatalf("the index holds %d keys (%v), want 1", n, err)
	}
	if n, err := r.Client().Exists(ctx, r.evTag()+"r:"+short[0].Key, r.evTag()+"a:"+short[0].Key).Result(); err != nil || n != 0 {
		t.Fatalf("%d of the run and the attempts of records of 1 s retention remain (%v)", n, err)
	}
	if got, want := expiry("idx"), kept[0].ReceivedAt.Add(time.Hour).UnixMilli(); got != want {
		t.Fatalf("the index expires at %d, want %d (its newest record's expiry)", got, want)
	}
}

// TestRedisEventExpireSteps: ExpireEvents drops every key before the
// cutoff, in several steps, and no other.
func TestRedisEventExpireSteps(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "steps:"})
	recs := redisEvents(time.Now().Add(-2*time.Hour), 3*expireBatch, 10)
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs, Retain: 24 * time.Hour}))
	keep := 2*expireBatch + 10
	must(t, r.ExpireEvents(ctx, recs[len(recs)-keep].ReceivedAt, 0))
	if n, err := r.Client().ZCard(ctx, r.evTag()+"idx").Result(); err != nil || n != int64(keep) {
		t.Fatalf("the index holds %d keys (%v), want %d", n, err, keep)
	}
	p := list(t, r, EventFilter{Since: recs[0].ReceivedAt, Until: recs[len(recs)-keep+1].ReceivedAt})
	if got := eventIDs(p); len(got) != 1 || got[0] != recs[len(recs)-keep].ID {
		t.Fatalf("around the cutoff: %v", got)
	}
}

// BenchmarkRedisRecordEvents records batches of 64 events of 1 KB, ids
// all distinct, and reports Redis's CPU time (INFO used_cpu_sys +
// used_cpu_user) and memory (used_memory) per event.
func BenchmarkRedisRecordEvents(b *testing.B) {
	const batch, size = 64, 1024
	srv := redistest.Start(b)
	r := newRedis(b, RedisConfig{URL: srv.URL(), KeyPrefix: "bench:"})
	cpu := func() float64 {
		return redisInfo(b, srv, "cpu", "used_cpu_sys") + redisInfo(b, srv, "cpu", "used_cpu_user")
	}
	start := time.Now().Add(-time.Hour)
	recs := redisEvents(start, batch, size)
	must(b, r.RecordEvents(ctx, EventBatch{Records: recs[:1], Retain: 2 * time.Hour})) // loads the script
	cpu0, mem0 := cpu(), redisInfo(b, srv, "memory", "used_memory")
	events := 0
	for b.Loop() {
		for i := range recs {
			at := start.Add(time.Duration(events+i) * time.Microsecond)
			recs[i].ID = "evt_" + strconv.Itoa(events+i) // each its own, as senders' are
			recs[i].ReceivedAt, recs[i].Key = at, EventKey(at, "p", recs[i].ID)
		}
		must(b, r.RecordEvents(ctx, EventBatch{Records: recs, Retain: 2 * time.Hour}))
		events += batch
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric((cpu()-cpu0)*1e6/float64(events), "redis-cpu-µs/event")
	b.ReportMetric((redisInfo(b, srv, "memory", "used_memory")-mem0)/float64(events), "redis-B/event")
}

// TestRedisEventLongMetadata: metadata longer than a listing's prefix
// read is read whole; an id is found hours before the newest record, its
// newest record winning whatever the order of writes.
func TestRedisEventLongMetadata(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "long:"})
	recs := redisEvents(time.Now().Add(-5*time.Hour), 3, 10)
	for i := range 20 {
		recs[0].Destinations = append(recs[0].Destinations, "http://service-"+strconv.Itoa(i)+".internal/hooks/incoming")
	}
	recs[2].ReceivedAt = time.Now()
	recs[2].Key = EventKey(recs[2].ReceivedAt, "p", recs[2].ID)
	later := recs[0]
	later.ReceivedAt = recs[0].ReceivedAt.Add(2 * time.Hour)
	later.Key = EventKey(later.ReceivedAt, "p", later.ID)
	must(t, r.RecordEvents(ctx, EventBatch{Records: []EventRecord{later}, Retain: 24 * time.Hour}))
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs, Retain: 24 * time.Hour}))

	p := list(t, r, EventFilter{})
	if got := eventIDs(p); !slices.Equal(got, []string{"e2", "e0", "e1", "e0"}) {
		t.Fatalf("listed %v", got)
	}
	if got := p.Events[3]; len(appendEventMeta(nil, &got)) <= eventMetaPrefix || !slices.Equal(got.Destinations, recs[0].Destinations) {
		t.Fatalf("long metadata listed as %+v", got)
	}
	for ref, want := range map[string]string{"e0": later.Key, "e1": recs[1].Key, recs[0].Key: recs[0].Key} {
		got, err := r.ReadEvent(ctx, ref)
		must(t, err)
		if got == nil || got.Key != want {
			t.Fatalf("ReadEvent(%s) = %+v, want %s", ref, got, want)
		}
	}
}

// TestRedisEventUnreadable: a record that does not decode (a later
// format's) is passed over by a listing and reported by ReadEvent;
// attempts alone read as their key, state and attempts, unlisted.
func TestRedisEventUnreadable(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, RedisConfig{URL: srv.URL(), KeyPrefix: "bad:"})
	recs := redisEvents(time.Now(), 3, 10)
	must(t, r.RecordEvents(ctx, EventBatch{Records: recs[:2], Retain: time.Hour}))
	refs, err := r.Client().ZRange(ctx, r.evTag()+"idx", 0, 0).Result()
	must(t, err)
	ref, ok := parseEventRef(refs[0])
	if !ok || ref.key != recs[0].Key {
		t.Fatalf("the index holds %v", refs)
	}
	// A later version of the metadata.
	must(t, r.Client().SetRange(ctx, r.evTag()+"r:"+ref.run, int64(ref.off)+1, "\x02").Err())
	if got := eventIDs(list(t, r, EventFilter{})); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("listed %v, want [e1]", got)
	}
	if got, err := r.ReadEvent(ctx, recs[0].Key); err == nil {
		t.Fatalf("ReadEvent of an unreadable record = %+v", got)
	}

	only := firstAttempts(recs[2:])
	must(t, r.RecordEvents(ctx, EventBatch{Attempts: only, Retain: time.Hour}))
	got, err := r.ReadEvent(ctx, recs[2].Key)
	must(t, err)
	if got == nil || got.Key != recs[2].Key || !got.ReceivedAt.Equal(recs[2].ReceivedAt) || got.State != StateDelivered ||
		got.Attempts != 1 || len(got.Log) != 1 || got.Log[0].Destination != only[0].Destination || got.ID != "" {
		t.Fatalf("attempts alone read as %+v", got)
	}
	if got := eventIDs(list(t, r, EventFilter{})); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("with attempts alone listed %v, want [e1]", got)
	}
}

// FuzzRedisEventDecode: the decoders of a record's metadata and of an
// attempt take any bytes without panicking, and what they accept encodes
// back to the same values.
func FuzzRedisEventDecode(f *testing.F) {
	rec := redisEvents(time.Now(), 1, 10)[0]
	f.Add(appendEventMeta(nil, &rec))
	a := firstAttempts([]EventRecord{rec})[0]
	a.Error, a.Replay, a.Duration = "status 503", true, time.Second
	f.Add(appendEventAttempt(nil, &a))
	f.Fuzz(func(t *testing.T, p []byte) {
		var r EventRecord
		if decodeEventMeta(p, &r) == nil {
			var again EventRecord
			if err := decodeEventMeta(appendEventMeta(nil, &r), &again); err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("metadata %+v encodes back to %+v, %v", r, again, err)
			}
		}
		if a, err := decodeEventAttempt(p, "k"); err == nil {
			again, err := decodeEventAttempt(appendEventAttempt(nil, &a), "k")
			if err != nil || !again.At.Equal(a.At) {
				t.Fatalf("attempt %+v encodes back to %+v, %v", a, again, err)
			}
			again.At = a.At
			if again != a {
				t.Fatalf("attempt %+v encodes back to %+v", a, again)
			}
		}
	})
}
