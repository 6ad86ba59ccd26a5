package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis event log lives under one hash tag, {ev}, so that a batch's
// script touches one slot: in a Cluster one node holds the whole log.
//   <prefix>ev:{ev}:<key>    a record's hash: m its metadata (binary, see
//                            appendEventMeta), h its header (JSON), b its
//                            body, s its state as recorded, t that of its
//                            latest attempt, n its attempt count, a1..aN
//                            its attempts
//   <prefix>ev:{ev}:idx      the records' keys, a sorted set all scored 0:
//                            keys start with their time in fixed-width hex,
//                            so a reverse lexical range lists newest first
//                            and since, until and a cursor are lex bounds
//   <prefix>ev:{ev}:id:<id>  the key of the newest record of a Webhook-Id
// A hash and its id key expire at the record's ReceivedAt (the key's
// time) plus the batch's Retain: a record's write sets that time, the same
// at each write; an attempt's only on a hash it creates (attempts before
// their record), so that no later attempt (a replay's) extends it. The index holds keys whose hash has expired until a listing meets
// them or ExpireEvents trims it; it expires itself with its newest record.

var _ EventLog = (*Redis)(nil)

// evTag starts every event-log key.
func (r *Redis) evTag() string { return r.prefix + "ev:{ev}:" }

// recordEventsScript writes one chunk of a batch. KEYS[1] is the index,
// then per record its hash and, when it has a Webhook-Id, its id key, then
// per attempt its record's hash. ARGV[1] is the newest record's expiry
// (ms, 0 without records), ARGV[2] the number of records, ARGV[3] the
// retention (ms); per record its key, expiry, metadata, header (JSON),
// body, state and whether it has an id key; per attempt its record's expiry,
// encoding and result.
//
// A record's state is s and its attempts' t, so that a record written
// after its attempts leaves their state as it is. An attempt's PEXPIREAT
// NX sets the expiry of a hash it creates, never another's. An id key is set with SET GET and set back in the rare case it named a
// newer record, its expiry computed from that record's key.
var recordEventsScript = redis.NewScript(`
local idx, retain = KEYS[1], tonumber(ARGV[3])
local k, a = 2, 4
local members = {}
for _ = 1, tonumber(ARGV[2]) do
	local h, key, at = KEYS[k], ARGV[a], ARGV[a + 1]
	redis.call('HSET', h, 'm', ARGV[a + 2], 'h', ARGV[a + 3], 'b', ARGV[a + 4], 's', ARGV[a + 5])
	redis.call('PEXPIREAT', h, at)
	members[#members + 1] = 0
	members[#members + 1] = key
	if ARGV[a + 6] == '1' then
		k = k + 1
		local newer = redis.call('SET', KEYS[k], key, 'PXAT', at, 'GET')
		local t = newer and newer > key and tonumber(string.sub(newer, 1, 16), 16)
		if t then
			redis.call('SET', KEYS[k], newer, 'PXAT', string.format('%d', math.floor(t / 1000000) + retain))
		end
	end
	k, a = k + 1, a + 7
end
if #members > 0 then
	redis.call('ZADD', idx, unpack(members))
	local at = redis.call('PEXPIRETIME', idx)
	if at == -1 or at < tonumber(ARGV[1]) then redis.call('PEXPIREAT', idx, ARGV[1]) end
end
while a <= #ARGV do
	local h = KEYS[k]
	local n = redis.call('HINCRBY', h, 'n', 1)
	redis.call('HSET', h, 'a' .. n, ARGV[a + 1], 't', ARGV[a + 2])
	if n == 1 then redis.call('PEXPIREAT', h, ARGV[a], 'NX') end
	k, a = k + 1, a + 3
end
return 0
`)

// maxEventChunk bounds the records and attempts of one script call, and so
// how long it blocks Redis; a batch's chunks share one pipeline.
const maxEventChunk = 256

// eventChunk is one script call of a batch.
type eventChunk struct {
	keys []string
	args []any
	n    int // records and attempts
	recs int
	// newest is the latest expiry of its records.
	newest int64
}

// RecordEvents writes b in one round trip: one pipeline of script calls of
// up to maxEventChunk records and attempts each, in b's order. Records and
// attempts whose retention already ended, or whose key is no EventKey, are
// skipped: they cost the log themselves only, not the batch.
func (r *Redis) RecordEvents(ctx context.Context, b EventBatch) error {
	if len(b.Records) == 0 && len(b.Attempts) == 0 {
		return nil
	}
	if b.Retain <= 0 {
		return errors.New("redis event log: a batch needs a retention")
	}
	chunks, err := r.eventChunks(b, time.Now().UnixMilli())
	if err != nil || len(chunks) == 0 {
		return err
	}
	cmds := r.runEventChunks(ctx, chunks)
	if retry := noScript(chunks, cmds); len(retry) > 0 {
		// The server lost its script cache: load it, then run again only
		// the calls it refused (an attempt written twice would count twice).
		if err := recordEventsScript.Load(ctx, r.client).Err(); err != nil {
			return unavailable(err)
		}
		cmds = r.runEventChunks(ctx, retry)
	}
	return firstErr(cmds)
}

func (r *Redis) runEventChunks(ctx context.Context, chunks []*eventChunk) []redis.Cmder {
	cmds := make([]redis.Cmder, len(chunks))
	p := r.client.Pipeline()
	for i, c := range chunks {
		cmds[i] = recordEventsScript.EvalSha(ctx, p, c.keys, c.args...)
	}
	_, _ = p.Exec(ctx) // each command holds its error
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

// eventChunks builds the script calls of b.
func (r *Redis) eventChunks(b EventBatch, now int64) ([]*eventChunk, error) {
	tag := r.evTag()
	retain := b.Retain.Milliseconds()
	var chunks []*eventChunk
	var c *eventChunk
	next := func() *eventChunk {
		if c == nil || c.n == maxEventChunk {
			c = &eventChunk{keys: []string{tag + "idx"}, args: []any{int64(0), 0, retain}}
			chunks = append(chunks, c)
		}
		c.n++
		return c
	}
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
		c := next()
		c.recs++
		c.newest = max(c.newest, at)
		c.args[0], c.args[1] = c.newest, c.recs
		c.keys = append(c.keys, tag+rec.Key)
		hasID := "0"
		if rec.ID != "" {
			c.keys = append(c.keys, tag+"id:"+rec.ID)
			hasID = "1"
		}
		c.args = append(c.args, rec.Key, at, appendEventMeta(nil, &rec), header, rec.Body, rec.State, hasID)
	}
	// Attempts follow every record, so a chunk holds its records first, as
	// the script reads them.
	for _, a := range b.Attempts {
		a = a.Bounded()
		at := eventExpiry(a.Key, retain)
		if at <= now {
			continue
		}
		c := next()
		c.keys = append(c.keys, tag+a.Key)
		c.args = append(c.args, at, appendEventAttempt(nil, &a), a.Result)
	}
	return chunks, nil
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
// version byte, then length-prefixed fields. The key, received time,
// state and attempts are not in it (the key holds the time; s and n the
// rest).
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
	return b
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
	if d.err != nil {
		return errEventCorrupt
	}
	return nil
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

// eventFromMeta builds the listed record of key from HMGET m n s t's values:
// ok is false when the hash is gone (expired) or holds attempts only.
func eventFromMeta(key string, v []any) (EventRecord, bool, error) {
	m, _ := v[0].(string)
	if m == "" {
		return EventRecord{}, false, nil
	}
	rec := EventRecord{Key: key, ReceivedAt: eventReceivedAt(key)}
	if err := decodeEventMeta([]byte(m), &rec); err != nil {
		return EventRecord{}, false, fmt.Errorf("%w %s", err, key)
	}
	n, _ := v[1].(string)
	rec.Attempts, _ = strconv.Atoi(n)
	rec.State = eventState(v[2], v[3])
	return rec, true, nil
}

// eventState is a record's state: that of its latest attempt t, else s,
// as HMGET returns them.
func eventState(s, t any) string {
	if t, ok := t.(string); ok {
		return t
	}
	state, _ := s.(string)
	return state
}

// ListEvents pages through the index newest first, in chunks: each chunk's
// metadata (HMGET m n s t: never a body or attempts) comes in one pipeline,
// which also reads the next chunk of keys when the filter selects by
// metadata (a page then likely needs more). Keys whose hash expired are
// dropped from the index on the way.
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
		metas := make([]*redis.SliceCmd, len(keys))
		for i, k := range keys {
			metas[i] = p.HMGet(ctx, r.evTag()+k, "m", "n", "s", "t")
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
		for i, k := range keys {
			examined++
			rec, ok, err := eventFromMeta(k, metas[i].Val())
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
				out.Next = k
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

// dropGone removes from the index keys whose hash expired. It is tidying
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

// ReadEvent reads a whole record: the hash ref names when ref is a key,
// else that of the newest record of the Webhook-Id ref. A record that
// ExpireEvents dropped from the index is gone, though its hash may not
// have expired yet. A key and an id are looked up in one pipeline; an id
// costs one more round trip.
func (r *Redis) ReadEvent(ctx context.Context, ref string) (*EventRecord, error) {
	if ref == "" || len(ref) > maxEventField {
		return nil, nil
	}
	p := r.client.Pipeline()
	var byKey eventRead
	if IsEventKey(ref) {
		byKey = r.readEvent(ctx, p, ref)
	}
	byID := p.Get(ctx, r.evTag()+"id:"+ref)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	if byKey.hash != nil {
		if rec, err := byKey.record(); rec != nil || err != nil {
			return rec, err
		}
	}
	key := byID.Val()
	if !IsEventKey(key) {
		return nil, nil
	}
	p = r.client.Pipeline()
	read := r.readEvent(ctx, p, key)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	return read.record()
}

// eventRead is a record's hash and its index entry, read in a pipeline.
type eventRead struct {
	key   string
	hash  *redis.MapStringStringCmd
	score *redis.FloatCmd
}

func (r *Redis) readEvent(ctx context.Context, p redis.Pipeliner, key string) eventRead {
	tag := r.evTag()
	return eventRead{key: key, hash: p.HGetAll(ctx, tag+key), score: p.ZScore(ctx, tag+"idx", key)}
}

// record is the record read, nil when there is none: no hash, or one of a
// record that the index no longer lists (attempts alone are never listed).
func (e eventRead) record() (*EventRecord, error) {
	h := e.hash.Val()
	if _, listed := h["m"]; len(h) == 0 || listed && e.score.Err() != nil {
		return nil, nil
	}
	return eventFromHash(e.key, h)
}

// eventFromHash builds the whole record of key from its hash's fields. A
// hash of attempts only gives a record of its key, state and attempts.
func eventFromHash(key string, h map[string]string) (*EventRecord, error) {
	rec := &EventRecord{Key: key, ReceivedAt: eventReceivedAt(key), State: h["s"]}
	if t, ok := h["t"]; ok {
		rec.State = t
	}
	if m, ok := h["m"]; ok {
		if err := decodeEventMeta([]byte(m), rec); err != nil {
			return nil, fmt.Errorf("%w %s", err, key)
		}
	}
	if s := h["h"]; s != "" && s != "null" {
		var ok bool
		if rec.Header, ok = parsePlainHeaderJSON(s); !ok {
			rec.Header = make(http.Header)
			if err := json.Unmarshal([]byte(s), &rec.Header); err != nil {
				return nil, fmt.Errorf("%w %s: headers: %w", errEventCorrupt, key, err)
			}
		}
	}
	if b, ok := h["b"]; ok {
		rec.Body = []byte(b)
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
// in steps of expireBatch keys; their hashes expire on their own, and are
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
