package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis event log lives under one hash tag, {ev}, so that a batch's
// commands touch one slot: in a Cluster one node holds the whole log.
//   <prefix>ev:{ev}:r:<key>  a run: the records of one batch received
//                            within maxRunSpread of the first (whose key
//                            names it), one string, each record at an
//                            offset (appendRedisEvent): its metadata
//                            (binary, see appendEventMeta, its state as
//                            recorded included), header (JSON) and body
//   <prefix>ev:{ev}:idx      the records' refs, a sorted set all scored 0:
//                            <key>:<run>:<offset>:<length>; keys start with
//                            their time in fixed-width hex, so a reverse
//                            lexical range lists newest first and since,
//                            until and a cursor are lex bounds
//   <prefix>ev:{ev}:a:<key>  a record's attempts, a hash created by the
//                            first one: n their count, t the state of the
//                            latest, a1..aN the attempts
//   <prefix>ev:{ev}:ids:<h>  the Webhook-Ids of the records received in
//                            hour h (Unix time / 3600 s), a hash: an id's field
//                            holds the ref of its newest record that hour
// A listing reads a bounded prefix of each record (GETRANGE); ReadEvent by
// id reads the id's field in each hour the index spans, the newest hour
// holding it wins. A run expires with its newest record, at its ReceivedAt
// (the key's time) plus the batch's Retain; a record's attempts with it
// too (set by their first, so that no later one, a replay's, extends it);
// an hour of ids with its last possible record. Records are written as
// runs, and ids as hashes, because a key costs Redis far more CPU than the
// bytes it holds: a batch's records cost one SET per run, one ZADD and,
// per hour, one HMGET and HSET (to keep the newest ref of each id). The
// index holds refs whose run has expired until a listing meets them or
// ExpireEvents trims it; it expires itself with its newest record.

var _ EventLog = (*Redis)(nil)

// evTag starts every event-log key.
func (r *Redis) evTag() string { return r.prefix + "ev:{ev}:" }

// Bounds on a run: records received within maxRunSpread of its first, so
// that none is kept much beyond its retention, and up to maxRunBytes
// (a larger record is a run of its own).
const (
	maxRunSpread = 1000 // ms
	maxRunBytes  = 1 << 20
)

// recordEventsScript writes the ids and attempts of one chunk of a batch.
// KEYS[1] is the index, then per hour of ids its hash, then per attempt
// its record's attempts hash. ARGV[1] is the number of hours, ARGV[2] the
// runs' key prefix; per hour its expiry, its number of ids and per id the
// id and its record's ref; per attempt its record's key, expiry, encoding
// and result.
//
// An hour's ids are read in one HMGET and those whose ref is newer than
// the one held written in one HSET: a record written after a newer one of
// its id does not take the id. The first attempt of a record creates its
// hash and sets its expiry: its run's when that is sooner (a batch of a
// longer retention, a replay's, does not extend it). The run's key is read
// from the index, not declared: it shares the hash tag, and so the slot,
// of every declared key.
var recordEventsScript = redis.NewScript(`
local idx, runs = KEYS[1], ARGV[2]
local k, a = 2, 3
for _ = 1, tonumber(ARGV[1]) do
	local h, at, m = KEYS[k], ARGV[a], tonumber(ARGV[a + 1])
	a = a + 2
	local ids = {}
	for i = 1, m do ids[i] = ARGV[a + 2 * i - 2] end
	local held = redis.call('HMGET', h, unpack(ids))
	local set = {}
	for i = 1, m do
		local ref = ARGV[a + 2 * i - 1]
		if not held[i] or held[i] < ref then
			set[#set + 1] = ids[i]
			set[#set + 1] = ref
		end
	end
	if #set > 0 then redis.call('HSET', h, unpack(set)) end
	if redis.call('PEXPIRETIME', h) < tonumber(at) then redis.call('PEXPIREAT', h, at) end
	k, a = k + 1, a + 2 * m
end
while a <= #ARGV do
	local h, key = KEYS[k], ARGV[a]
	local n = redis.call('HINCRBY', h, 'n', 1)
	redis.call('HSET', h, 'a' .. n, ARGV[a + 2], 't', ARGV[a + 3])
	if n == 1 then
		local at = ARGV[a + 1]
		local ref = redis.call('ZRANGE', idx, '[' .. key .. ':', '(' .. key .. ';', 'BYLEX', 'LIMIT', 0, 1)[1]
		if ref then
			local t = redis.call('PEXPIRETIME', runs .. string.sub(ref, 26, 49))
			if t > 0 and t < tonumber(at) then at = t end
		end
		redis.call('PEXPIREAT', h, at)
	end
	k, a = k + 1, a + 4
end
return 0
`)

// maxEventChunk bounds the ids and attempts of one script call, and so
// how long it blocks Redis, and the members of one ZADD; a batch's calls
// share one pipeline.
const maxEventChunk = 256

// eventChunk is one script call of a batch.
type eventChunk struct {
	n     int // ids and attempts
	hours []*idHour
	// attempts' keys and arguments, which follow the hours'.
	keys []string
	args []any
}

// idHour is the ids of one hour in a chunk.
type idHour struct {
	key  string
	at   int64          // its expiry
	ids  []any          // id, ref, id, ref...
	refs map[string]int // an id's ref in ids
}

// add sets id's ref, unless it holds a newer one.
func (h *idHour) add(id, ref string) {
	if i, ok := h.refs[id]; ok {
		if ref > h.ids[i].(string) {
			h.ids[i] = ref
		}
		return
	}
	h.refs[id] = len(h.ids) + 1
	h.ids = append(h.ids, id, ref)
}

// script is the chunk's KEYS and ARGV.
func (c *eventChunk) script(tag string) ([]string, []any) {
	keys := make([]string, 0, 1+len(c.hours)+len(c.keys))
	keys = append(keys, tag+"idx")
	args := []any{len(c.hours), tag + "r:"}
	for _, h := range c.hours {
		keys = append(keys, h.key)
		args = append(append(args, h.at, len(h.ids)/2), h.ids...)
	}
	return append(keys, c.keys...), append(args, c.args...)
}

// eventRun is a run being written.
type eventRun struct {
	key   string // its first record's
	buf   []byte
	first int64 // its first record's expiry
	at    int64 // its newest record's expiry
}

// eventWrite is the commands of one batch.
type eventWrite struct {
	runs    []*eventRun
	members [][]redis.Z // the index's refs, per ZADD
	newest  int64       // the index's expiry: that of the newest record
	chunks  []*eventChunk
}

// RecordEvents writes b in one round trip: one pipeline of a SET per run,
// the index's ZADDs of up to maxEventChunk refs and script calls of up to
// maxEventChunk ids and attempts, in b's order. Records and attempts
// whose retention already ended, or whose key is no EventKey, are
// skipped: they cost the log themselves only, not the batch.
func (r *Redis) RecordEvents(ctx context.Context, b EventBatch) error {
	if len(b.Records) == 0 && len(b.Attempts) == 0 {
		return nil
	}
	if b.Retain <= 0 {
		return errors.New("redis event log: a batch needs a retention")
	}
	w, err := r.eventWrite(b, time.Now().UnixMilli())
	if err != nil {
		return err
	}
	tag := r.evTag()
	p := r.client.Pipeline()
	for _, run := range w.runs {
		p.Do(ctx, "set", tag+"r:"+run.key, run.buf, "pxat", run.at)
	}
	idx := tag + "idx"
	for _, m := range w.members {
		p.ZAdd(ctx, idx, m...)
	}
	if w.newest > 0 {
		// NX sets the expiry of an index ZADD created, GT extends another's.
		p.Do(ctx, "pexpireat", idx, w.newest, "nx")
		p.Do(ctx, "pexpireat", idx, w.newest, "gt")
	}
	scripts := r.runEventChunks(ctx, p, w.chunks)
	cmds, _ := p.Exec(ctx) // each command holds its error
	if retry := noScript(w.chunks, scripts); len(retry) > 0 {
		// The server lost its script cache: load it, then run again only
		// the calls it refused (an attempt written twice would count twice).
		if err := recordEventsScript.Load(ctx, r.client).Err(); err != nil {
			return unavailable(err)
		}
		p = r.client.Pipeline()
		scripts = r.runEventChunks(ctx, p, retry)
		_, _ = p.Exec(ctx)
		cmds = append(cmds[:len(cmds)-len(w.chunks)], scripts...)
	}
	return firstErr(cmds)
}

func (r *Redis) runEventChunks(ctx context.Context, p redis.Pipeliner, chunks []*eventChunk) []redis.Cmder {
	cmds := make([]redis.Cmder, len(chunks))
	for i, c := range chunks {
		keys, args := c.script(r.evTag())
		cmds[i] = recordEventsScript.EvalSha(ctx, p, keys, args...)
	}
	return cmds
}

// noScript returns the chunks whose call failed with NOSCRIPT.
func noScript(chunks []*eventChunk, cmds []redis.Cmder) []*eventChunk {
	var out []*eventChunk
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			out = append(out, chunks[i])
		}
	}
	return out
}

// eventWrite builds the commands of b.
func (r *Redis) eventWrite(b EventBatch, now int64) (*eventWrite, error) {
	tag := r.evTag()
	retain := b.Retain.Milliseconds()
	w := &eventWrite{}
	var c *eventChunk
	next := func() *eventChunk {
		if c == nil || c.n == maxEventChunk {
			c = &eventChunk{}
			w.chunks = append(w.chunks, c)
		}
		c.n++
		return c
	}
	var run *eventRun
	var members []redis.Z
	for i := range b.Records {
		rec := b.Records[i].Bounded()
		at := eventExpiry(rec.Key, retain)
		if at <= now {
			continue
		}
		header, err := headerJSON(rec.Header)
		if err != nil {
			return nil, fmt.Errorf("redis event log: encoding headers: %w", err)
		}
		if run == nil || at-run.first > maxRunSpread || len(run.buf)+len(rec.Body) > maxRunBytes {
			run = &eventRun{key: rec.Key, first: at}
			w.runs = append(w.runs, run)
		}
		off := len(run.buf)
		run.buf = appendRedisEvent(run.buf, &rec, header)
		run.at = max(run.at, at)
		w.newest = max(w.newest, at)
		ref := eventRef{key: rec.Key, run: run.key, off: off, n: len(run.buf) - off}.String()
		if len(members) == maxEventChunk {
			w.members = append(w.members, members)
			members = nil
		}
		members = append(members, redis.Z{Member: ref})
		if rec.ID != "" {
			c := next()
			hour := tag + "ids:" + eventHour(rec.Key)
			var h *idHour
			for _, ch := range c.hours {
				if ch.key == hour {
					h = ch
				}
			}
			if h == nil {
				h = &idHour{key: hour, refs: map[string]int{}}
				c.hours = append(c.hours, h)
			}
			h.at = max(h.at, eventHourEnd(rec.Key)+retain)
			h.add(rec.ID, ref)
		}
	}
	if len(members) > 0 {
		w.members = append(w.members, members)
	}
	// Attempts follow every id, so a chunk holds its ids first, as the
	// script reads them.
	for _, a := range b.Attempts {
		a = a.Bounded()
		at := eventExpiry(a.Key, retain)
		if at <= now {
			continue
		}
		c := next()
		c.keys = append(c.keys, tag+"a:"+a.Key)
		c.args = append(c.args, a.Key, at, appendEventAttempt(nil, &a), a.Result)
	}
	return w, nil
}

// eventHour is the hour of the record of key, as its ids' hash names it.
func eventHour(key string) string {
	return strconv.FormatInt(eventReceivedAt(key).Unix()/3600, 10)
}

// eventHourEnd is when the hour of the record of key ends, in Unix ms.
func eventHourEnd(key string) int64 {
	return (eventReceivedAt(key).Unix()/3600 + 1) * 3600 * 1000
}

// eventRef is where a record is: its key, its run's and its bytes there.
type eventRef struct {
	key, run string
	off, n   int
}

// String is the ref as the index and the hours of ids hold it.
func (e eventRef) String() string {
	return e.key + ":" + e.run + ":" + strconv.Itoa(e.off) + ":" + strconv.Itoa(e.n)
}

// parseEventRef reads what eventRef.String wrote; ok is false for anything
// else.
func parseEventRef(s string) (e eventRef, ok bool) {
	const keys = 2*eventKeyLen + 2
	if len(s) < keys+3 || s[eventKeyLen] != ':' || s[keys-1] != ':' {
		return eventRef{}, false
	}
	e.key, e.run = s[:eventKeyLen], s[eventKeyLen+1:keys-1]
	off, n, ok := strings.Cut(s[keys:], ":")
	var err1, err2 error
	e.off, err1 = strconv.Atoi(off)
	e.n, err2 = strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || e.off < 0 || e.n <= 0 || !isEventKey(e.key) || !isEventKey(e.run) {
		return eventRef{}, false
	}
	return e, true
}

// eventExpiry is when the record of key expires: its time plus retain, in
// Unix ms; 0 for a key of another shape, which the log cannot hold (no
// time to list or expire it by).
func eventExpiry(key string, retain int64) int64 {
	k, ok := parseEventKey(key)
	if !ok {
		return 0
	}
	return int64(k.t)/int64(time.Millisecond) + retain
}

// eventReceivedAt is the time part of key.
func eventReceivedAt(key string) time.Time {
	k, _ := parseEventKey(key)
	return time.Unix(0, int64(k.t))
}

// appendEventMeta appends the metadata of r that a listing reads: a
// version byte, then length-prefixed fields, its state as recorded last.
// The key and received time are not in it (the key holds the time), nor
// the attempts (their hash holds them and the latest's state).
func appendEventMeta(b []byte, r *EventRecord) []byte {
	flags := byte(0)
	if r.Async {
		flags = 1
	}
	b = append(b, 1, flags)
	b = binary.AppendUvarint(b, uint64(r.Answer))
	b = binary.AppendUvarint(b, uint64(r.BodySize))
	b = appendString(b, r.ID)
	b = appendString(b, r.Provider)
	b = appendString(b, r.Scope)
	b = appendString(b, r.Type)
	b = binary.AppendUvarint(b, uint64(len(r.Destinations)))
	for _, d := range r.Destinations {
		b = appendString(b, d)
	}
	return appendString(b, r.State)
}

// errEventCorrupt is the error of a stored record that does not decode.
var errEventCorrupt = errors.New("redis event log: corrupt record")

// decodeEventMeta fills r's metadata from what appendEventMeta wrote.
func decodeEventMeta(m []byte, r *EventRecord) error {
	if len(m) < 2 || m[0] != 1 {
		return errEventCorrupt
	}
	r.Async = m[1]&1 != 0
	d := &decoder{b: m[2:]}
	r.Answer = int(d.uvarint())
	r.BodySize = int(d.uvarint())
	r.ID, r.Provider, r.Scope, r.Type = d.string(), d.string(), d.string(), d.string()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each destination takes a byte at least
		return errEventCorrupt
	}
	for range n {
		r.Destinations = append(r.Destinations, d.string())
	}
	r.State = d.string()
	if d.err != nil {
		return errEventCorrupt
	}
	return nil
}

// appendRedisEvent appends r's stored string: its metadata, length
// first, so that a listing finds its end in a prefix, then its header
// (JSON), length first, then its body.
func appendRedisEvent(b []byte, r *EventRecord, header []byte) []byte {
	meta := appendEventMeta(make([]byte, 0, 128), r)
	b = slices.Grow(b, len(meta)+len(header)+len(r.Body)+2*binary.MaxVarintLen64)
	b = appendBytes(b, meta)
	b = appendBytes(b, header)
	return append(b, r.Body...)
}

// eventMetaPrefix is how much of a record a listing reads: its metadata
// fits in it but for many or long destinations, which take a second read.
const eventMetaPrefix = 192

// eventMetaSpan is where the metadata of the record that p starts
// starts and ends; end is 0 when p is corrupt.
func eventMetaSpan(p string) (start, end int) {
	n, k := binary.Uvarint([]byte(p[:min(len(p), binary.MaxVarintLen64)]))
	if k <= 0 || n > math.MaxInt32 {
		return 0, 0
	}
	return k, k + int(n)
}

// appendEventAttempt appends a's encoding (its key is the hash's).
func appendEventAttempt(b []byte, a *EventAttempt) []byte {
	flags := byte(0)
	if a.Replay {
		flags = 1
	}
	b = append(b, 1, flags)
	b = binary.AppendVarint(b, a.At.UnixNano())
	b = binary.AppendUvarint(b, uint64(a.Attempt))
	b = binary.AppendUvarint(b, uint64(a.Status))
	b = binary.AppendVarint(b, int64(a.Duration))
	b = appendString(b, a.Destination)
	b = appendString(b, a.Result)
	return appendString(b, a.Error)
}

func decodeEventAttempt(p []byte, key string) (EventAttempt, error) {
	if len(p) < 2 || p[0] != 1 {
		return EventAttempt{}, errEventCorrupt
	}
	d := &decoder{b: p[2:]}
	a := EventAttempt{Key: key, Replay: p[1]&1 != 0}
	a.At = time.Unix(0, d.varint())
	a.Attempt = int(d.uvarint())
	a.Status = int(d.uvarint())
	a.Duration = time.Duration(d.varint())
	a.Destination, a.Result, a.Error = d.string(), d.string(), d.string()
	if d.err != nil {
		return EventAttempt{}, errEventCorrupt
	}
	return a, nil
}

// eventFromMeta builds the listed record of key from a prefix p of its
// string that holds its metadata and HMGET n t of its attempts: ok is
// false when the record is gone (expired).
func eventFromMeta(key, p string, v []any) (rec EventRecord, ok bool, err error) {
	if p == "" {
		return EventRecord{}, false, nil
	}
	start, end := eventMetaSpan(p)
	if end == 0 || end > len(p) {
		return EventRecord{}, false, fmt.Errorf("%w %s", errEventCorrupt, key)
	}
	rec = EventRecord{Key: key, ReceivedAt: eventReceivedAt(key)}
	if err := decodeEventMeta([]byte(p[start:end]), &rec); err != nil {
		return EventRecord{}, false, fmt.Errorf("%w %s", err, key)
	}
	n, _ := v[0].(string)
	rec.Attempts, _ = strconv.Atoi(n)
	if t, ok := v[1].(string); ok {
		rec.State = t
	}
	return rec, true, nil
}

// eventMetaMissing is the prefix length that holds the metadata of the
// record whose prefix of eventMetaPrefix bytes is p; 0 when p holds it.
func eventMetaMissing(p string) int {
	if len(p) < eventMetaPrefix {
		return 0
	}
	if _, end := eventMetaSpan(p); end > len(p) {
		return end
	}
	return 0
}

// ListEvents pages through the index newest first, in chunks: each chunk's
// metadata (a prefix of each record and HMGET n t of its attempts: never a
// body or attempts) comes in one pipeline, which also reads the next chunk
// of keys when the filter selects by metadata (a page then likely needs
// more). Keys whose record expired are dropped from the index on the way.
func (r *Redis) ListEvents(ctx context.Context, f EventFilter) (EventPage, error) {
	if err := f.Check(); err != nil {
		return EventPage{}, err
	}
	page, scan := f.limits()
	hi, lo := eventRange(f)
	idx := r.evTag() + "idx"
	filtered := f.Provider != "" || f.Scope != "" || f.Type != "" || f.Status != ""
	chunkSize := func(examined int) int {
		n := page
		if filtered {
			n = max(n, 256)
		}
		return min(n, scan-examined, MaxEventPage)
	}

	var out EventPage
	var gone []string
	want := chunkSize(0)
	keys, err := newestKeys(ctx, r.client, idx, hi, lo, want).Result()
	if err != nil {
		return EventPage{}, unavailable(err)
	}
	examined := 0
	for len(keys) > 0 {
		p := r.client.Pipeline()
		refs := make([]eventRef, len(keys))
		prefixes := make([]*redis.StringCmd, len(keys))
		states := make([]*redis.SliceCmd, len(keys))
		for i, m := range keys {
			ref, ok := parseEventRef(m)
			if !ok {
				continue
			}
			refs[i] = ref
			prefixes[i] = r.readRun(ctx, p, ref, min(ref.n, eventMetaPrefix))
			states[i] = p.HMGet(ctx, r.evTag()+"a:"+ref.key, "n", "t")
		}
		var more *redis.StringSliceCmd
		end := len(keys) < want
		if !end && filtered && examined+len(keys) < scan {
			want = chunkSize(examined + len(keys))
			more = newestKeys(ctx, p, idx, "("+keys[len(keys)-1], lo, want)
		}
		if len(gone) > 0 {
			p.ZRem(ctx, idx, anys(gone)...)
			gone = gone[:0]
		}
		if _, err := p.Exec(ctx); err != nil {
			return EventPage{}, unavailable(err)
		}
		if err := r.readLongMeta(ctx, refs, prefixes); err != nil {
			return EventPage{}, err
		}
		for i, k := range keys {
			examined++
			var rec EventRecord
			ok, err := false, errEventCorrupt
			if prefixes[i] != nil {
				rec, ok, err = eventFromMeta(refs[i].key, prefixes[i].Val(), states[i].Val())
			}
			switch {
			case err != nil:
				// A record this version cannot read (a later format's,
				// or not the log's) is passed over, not the listing's
				// failure; ReadEvent reports it.
			case !ok:
				gone = append(gone, k)
			case f.Matches(&rec):
				out.Events = append(out.Events, rec)
			}
			if len(out.Events) == page || examined == scan {
				out.Next = k[:min(len(k), eventKeyLen)]
				r.dropGone(ctx, idx, gone)
				return out, nil
			}
		}
		switch {
		case end:
			keys = nil
		case more != nil:
			keys, err = more.Result()
		default:
			want = chunkSize(examined)
			keys, err = newestKeys(ctx, r.client, idx, "("+keys[len(keys)-1], lo, want).Result()
		}
		if err != nil {
			return EventPage{}, unavailable(err)
		}
	}
	r.dropGone(ctx, idx, gone)
	return out, nil
}

// readRun reads the first n bytes of the record ref names.
func (r *Redis) readRun(ctx context.Context, p redis.Pipeliner, ref eventRef, n int) *redis.StringCmd {
	return p.GetRange(ctx, r.evTag()+"r:"+ref.run, int64(ref.off), int64(ref.off+n)-1)
}

// readLongMeta reads again, in one pipeline, the records of refs whose
// metadata is longer than the prefix read.
func (r *Redis) readLongMeta(ctx context.Context, refs []eventRef, prefixes []*redis.StringCmd) error {
	var p redis.Pipeliner
	for i, ref := range refs {
		if prefixes[i] == nil {
			continue
		}
		if more := eventMetaMissing(prefixes[i].Val()); more > 0 {
			if p == nil {
				p = r.client.Pipeline()
			}
			prefixes[i] = r.readRun(ctx, p, ref, min(more, ref.n))
		}
	}
	if p == nil {
		return nil
	}
	if _, err := p.Exec(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// newestKeys reads up to n index keys in the lexical range [lo, hi],
// newest first.
func newestKeys(ctx context.Context, c redis.Cmdable, idx, hi, lo string, n int) *redis.StringSliceCmd {
	return c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, Start: hi, Stop: lo, ByLex: true, Rev: true, Count: int64(n)})
}

// eventRange is the lexical range of index keys that f's time range and
// cursor select: hi, the newest bound, and lo.
func eventRange(f EventFilter) (hi, lo string) {
	hi, lo = "+", "-"
	if f.Cursor != "" {
		hi = "(" + f.Cursor
	}
	// Keys of time t sort after eventKeyTime(t) and before that of t+1ns.
	if !f.Until.IsZero() {
		if u := eventKeyTime(f.Until); hi == "+" || u < f.Cursor {
			hi = "(" + u
		}
	}
	if !f.Since.IsZero() {
		lo = "[" + eventKeyTime(f.Since)
	}
	return hi, lo
}

// dropGone removes from the index refs whose run expired. It is tidying
// only: a failure leaves them for the next listing or ExpireEvents.
func (r *Redis) dropGone(ctx context.Context, idx string, gone []string) {
	if len(gone) > 0 {
		_ = r.client.ZRem(ctx, idx, anys(gone)...).Err()
	}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// maxIDHours bounds the hours of ids that ReadEvent reads: a year's.
const maxIDHours = 366 * 24

// ReadEvent reads a whole record: the one ref names when ref is a key,
// else the newest record of the Webhook-Id ref. A record that
// ExpireEvents dropped from the index is gone, though its run may not
// have expired yet. A key takes two round trips: its ref (and attempts),
// then the record; an id one more: the index's span, then the id's ref in
// each hour of it.
func (r *Redis) ReadEvent(ctx context.Context, ref string) (*EventRecord, error) {
	if ref == "" || len(ref) > maxEventField {
		return nil, nil
	}
	tag := r.evTag()
	idx := tag + "idx"
	p := r.client.Pipeline()
	var byKey *redis.StringSliceCmd
	var attempts *redis.MapStringStringCmd
	if isEventKey(ref) {
		byKey = p.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, Start: "[" + ref + ":", Stop: "(" + ref + ";", ByLex: true,
			Count: 1})
		attempts = p.HGetAll(ctx, tag+"a:"+ref)
	}
	oldest, newest := p.ZRange(ctx, idx, 0, 0), p.ZRange(ctx, idx, -1, -1)
	if _, err := p.Exec(ctx); err != nil {
		return nil, unavailable(err)
	}
	if byKey != nil {
		if refs := byKey.Val(); len(refs) > 0 {
			return r.readRef(ctx, refs[0])
		}
		// Attempts alone, unless ExpireEvents dropped what came before the
		// oldest indexed record.
		if o := oldest.Val(); len(attempts.Val()) > 0 && (len(o) == 0 || ref > o[0]) {
			return eventFromParts(ref, "", attempts.Val())
		}
	}
	first, ok1 := indexHour(oldest.Val())
	last, ok2 := indexHour(newest.Val())
	if !ok1 || !ok2 {
		return nil, nil
	}
	p = r.client.Pipeline()
	var hours []*redis.StringCmd
	for h := last; h >= max(first, last-maxIDHours); h-- {
		hours = append(hours, p.HGet(ctx, tag+"ids:"+strconv.FormatInt(h, 10), ref))
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	for _, h := range hours {
		if at := h.Val(); at != "" {
			return r.readRef(ctx, at)
		}
	}
	return nil, nil
}

// indexHour is the hour of the ref ZRANGE read; ok is false without one.
func indexHour(refs []string) (hour int64, ok bool) {
	if len(refs) == 0 {
		return 0, false
	}
	ref, ok := parseEventRef(refs[0])
	return eventReceivedAt(ref.key).Unix() / 3600, ok
}

// readRef reads the record at, with its attempts: nil when its run expired
// or ExpireEvents dropped it from the index.
func (r *Redis) readRef(ctx context.Context, at string) (*EventRecord, error) {
	loc, ok := parseEventRef(at)
	if !ok {
		return nil, nil
	}
	tag := r.evTag()
	p := r.client.Pipeline()
	run := r.readRun(ctx, p, loc, loc.n)
	attempts := p.HGetAll(ctx, tag+"a:"+loc.key)
	listed := p.ZScore(ctx, tag+"idx", at)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	if run.Val() == "" || listed.Err() != nil {
		return nil, nil
	}
	return eventFromParts(loc.key, run.Val(), attempts.Val())
}

// eventFromParts builds the whole record of key from its stored bytes s
// ("" for attempts alone) and its attempts hash h.
func eventFromParts(key, s string, h map[string]string) (*EventRecord, error) {
	rec := &EventRecord{Key: key, ReceivedAt: eventReceivedAt(key)}
	if s != "" {
		if err := decodeRedisEvent(s, rec); err != nil {
			return nil, fmt.Errorf("%w %s", err, key)
		}
	}
	if t, ok := h["t"]; ok {
		rec.State = t
	}
	n, _ := strconv.Atoi(h["n"])
	// Every attempt is a field of the hash: n beyond them is corrupt.
	n = min(max(n, 0), len(h))
	for i := 1; i <= n; i++ {
		p, ok := h["a"+strconv.Itoa(i)]
		if !ok {
			continue
		}
		a, err := decodeEventAttempt([]byte(p), key)
		if err != nil {
			return nil, fmt.Errorf("%w %s attempt %d", err, key, i)
		}
		rec.Log = append(rec.Log, a)
	}
	rec.Attempts = n
	return rec, nil
}

// decodeRedisEvent fills rec from what appendRedisEvent wrote.
func decodeRedisEvent(s string, rec *EventRecord) error {
	d := &decoder{b: []byte(s)}
	meta := d.bytes()
	header := d.bytes()
	if d.err != nil {
		return errEventCorrupt
	}
	if err := decodeEventMeta(meta, rec); err != nil {
		return err
	}
	if len(header) > 0 && string(header) != "null" {
		var ok bool
		if rec.Header, ok = parsePlainHeaderJSON(string(header)); !ok {
			rec.Header = make(http.Header)
			if err := json.Unmarshal(header, &rec.Header); err != nil {
				return fmt.Errorf("%w: headers: %w", errEventCorrupt, err)
			}
		}
	}
	rec.Body = d.b
	return nil
}

// expireBatch bounds the index keys that one expireEventsScript call
// drops, and so how long it blocks Redis.
const expireBatch = 1000

// expireEventsScript drops up to ARGV[2] of the oldest index keys below
// ARGV[1]: all scores are 0, so ranks follow the keys' order.
var expireEventsScript = redis.NewScript(`
local n = math.min(redis.call('ZLEXCOUNT', KEYS[1], '-', ARGV[1]), tonumber(ARGV[2]))
if n > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1) end
return n
`)

// ExpireEvents drops the records received before cutoff from the index,
// in steps of expireBatch refs; their runs expire on their own, and are
// not read meanwhile. maxBytes is not applied: Redis bounds the log with
// the records' expiry and its own memory policy.
func (r *Redis) ExpireEvents(ctx context.Context, cutoff time.Time, _ int64) error {
	keys := []string{r.evTag() + "idx"}
	below := "(" + eventKeyTime(cutoff)
	for {
		n, err := expireEventsScript.Run(ctx, r.client, keys, below, expireBatch).Int()
		if err != nil || n < expireBatch {
			return unavailable(err)
		}
	}
}
