package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Each destination has, under one hash tag (so its scripts touch one slot):
//   :s    the stream of ready and in-flight entries, consumer group "deliver"
//   :z    delayed retries, score = due time in ms, member = old entry id
//   :r    the delayed retries' fields, msgpack-encoded, by member
//   :dead the dead-letter stream
//   :dm   the dead letters' metadata (no headers, no body), a stream with
//         the same entry ids, so that a listing never reads a body
//   :di   the dead letters by event id: a sorted set of "<event id>\0<entry>",
//         all scored 0, read by lexical range
// The dead-letter scripts keep :dead, :dm and :di in step.
// A retry leaves the stream and is moved back when due, so it never blocks
// the ready entries behind it.

const consumerGroup = "deliver"

type queueKeys struct{ stream, delayed, retries, dead, deadMeta, deadIndex string }

// queueKeys are computed once per destination: every enqueue needs them.
func (r *Redis) queueKeys(destination string) queueKeys {
	if k, ok := r.queues.Load(destination); ok {
		return k.(queueKeys)
	}
	sum := sha256.Sum256([]byte(destination))
	tag := r.prefix + "{q:" + hex.EncodeToString(sum[:8]) + "}"
	k := queueKeys{stream: tag + ":s", delayed: tag + ":z", retries: tag + ":r", dead: tag + ":dead",
		deadMeta: tag + ":dm", deadIndex: tag + ":di"}
	r.queues.Store(destination, k)
	return k
}

// Enqueue's scripts take KEYS[1], the claim's key, then the streams
// (KEYS[2..]); ARGV[1] is the claim's committed value ("" when the claim
// has no Key), ARGV[2] its TTL in ms, ARGV[3..] the entry. xaddEach adds
// the entry to every stream and sets err to the text of a failed XADD,
// which the script returns, so that the other calls of a shared EVALSHA
// are not held back by it (streams it was already added to keep it: at
// least once).
const xaddEach = `
local err
for i = 2, #KEYS do
	local added = redis.pcall('XADD', KEYS[i], '*', unpack(ARGV, 3))
	if type(added) == 'table' and added.err then
		err = added.err
		break
	end
end
`

// enqueueScript queues an event whose claim the caller holds, and commits
// the claim once the event is queued: one round trip, one step.
var enqueueScript = newMultiScript(xaddEach + `
if err then return err end
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 0
`)

// fetchScript moves due retries back to the stream, takes over entries
// pending longer than the lease (a dead consumer's, or a live one's that
// waited too long), then reads new ones. A taken-over entry carries how
// many times it was handed out, which fences its earlier holders (see
// heldLib); a new one was handed out once. The group starts at 0 so that
// entries added before it existed are read.
var fetchScript = redis.NewScript(`
local s, z, r = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local claimed = redis.pcall('XAUTOCLAIM', s, group, consumer, ARGV[4], '0-0', 'COUNT', count)
if claimed.err then
	redis.call('XGROUP', 'CREATE', s, group, '0', 'MKSTREAM')
	claimed = {'0-0', {}}
end
for _, id in ipairs(redis.call('ZRANGE', z, '-inf', ARGV[5], 'BYSCORE', 'LIMIT', 0, count)) do
	local packed = redis.call('HGET', r, id)
	if packed then redis.call('XADD', s, '*', unpack(cmsgpack.unpack(packed))) end
	redis.call('HDEL', r, id)
	redis.call('ZREM', z, id)
end
local out = claimed[2]
for _, e in ipairs(out) do
	e[3] = redis.call('XPENDING', s, group, e[1], e[1], 1)[1][4]
end
if #out < count then
	local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #out, 'STREAMS', s, '>')
	if read then
		for _, e in ipairs(read[1][2]) do out[#out + 1] = e end
	end
end
return out
`)

// heldLib's held reports whether the entry is still leased as its holder
// got it: pending, and handed out the number of times the holder's handle
// says. A consumer name does not tell holders apart (a process's config
// generations share one), and XACK takes any consumer's entry: without
// this, a holder whose lease ran out could move an entry that another
// fetch took over and is delivering, and it would be delivered twice.
const heldLib = `
local function held(stream, group, entry, times)
	local p = redis.pcall('XPENDING', stream, group, entry, entry, 1)
	return p.err == nil and #p == 1 and p[1][4] == tonumber(times)
end
`

// retryScript and deadScript do nothing unless the entry is still held
// as ARGV[2] and ARGV[3] say: acknowledged meanwhile, or taken over after
// the lease, it is another holder's.
var retryScript = redis.NewScript(heldLib + `
if not held(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], cmsgpack.pack({unpack(ARGV, 5)}))
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
return 1
`)

// deadLib is shared by the dead-letter scripts. entriesOf returns the
// entries an id names: those the index lists for that event id, else the
// id itself when it has an entry's shape. forget drops an entry's metadata
// and index member.
const deadLib = `
local function isEntry(s) return string.match(s, '^%d+%-%d+$') ~= nil end
local function field(f, name)
	for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
	return ''
end
local function entriesOf(index, id)
	local out = {}
	for _, m in ipairs(redis.call('ZRANGEBYLEX', index, '[' .. id .. '\0', '(' .. id .. '\1')) do
		local e = string.sub(m, #id + 2)
		if isEntry(e) then out[#out + 1] = e end
	end
	if #out == 0 and isEntry(id) then out[1] = id end
	return out
end
local function resolve(index, ids, from)
	local out, seen = {}, {}
	for i = from, #ids do
		for _, e in ipairs(entriesOf(index, ids[i])) do
			if not seen[e] then seen[e] = true; out[#out + 1] = e end
		end
	end
	return out
end
local function forget(meta, index, e, id)
	redis.call('ZREM', index, id .. '\0' .. e)
	redis.call('XDEL', meta, e)
end
`

// deadScript moves the entry ARGV[2] (unless no longer held, as for
// retryScript) to the dead letters: the whole entry (the ARGV after the
// ARGV[5] metadata values ARGV[6..]) to :dead, the metadata to :dm under
// the same id, and the event id ARGV[4] to :di.
var deadScript = redis.NewScript(heldLib + `
if not held(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
local m = tonumber(ARGV[5])
local e = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 6 + m))
redis.call('XADD', KEYS[3], e, unpack(ARGV, 6, 5 + m))
redis.call('ZADD', KEYS[4], 0, ARGV[4] .. '\0' .. e)
return 1
`)

// redriveScript moves dead letters (those ARGV[2..] name, or the first
// ARGV[1] when no ids are given) back to the stream with their attempts
// reset and added to their earlier ones.
var redriveScript = redis.NewScript(deadLib + `
local dead, stream, meta, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local entries = {}
if #ARGV == 1 then
	entries = redis.call('XRANGE', dead, '-', '+', 'COUNT', ARGV[1])
else
	for _, e in ipairs(resolve(index, ARGV, 2)) do
		for _, x in ipairs(redis.call('XRANGE', dead, e, e)) do entries[#entries + 1] = x end
	end
end
for _, e in ipairs(entries) do
	local f = e[2]
	local attempts, earlier = 0, nil
	for i = 1, #f, 2 do
		if f[i] == 'attempts' then attempts = tonumber(f[i + 1]) or 0; f[i + 1] = '0' end
		if f[i] == 'earlier' then earlier = i + 1 end
	end
	if earlier then
		f[earlier] = tostring((tonumber(f[earlier]) or 0) + attempts)
	elseif attempts > 0 then
		f[#f + 1] = 'earlier'; f[#f + 1] = tostring(attempts)
	end
	redis.call('XADD', stream, '*', unpack(f))
	redis.call('XDEL', dead, e[1])
	forget(meta, index, e[1], field(f, 'id'))
end
return #entries
`)

// deleteDeadScript drops the dead letters ARGV names.
var deleteDeadScript = redis.NewScript(deadLib + `
local n = 0
for _, e in ipairs(resolve(KEYS[3], ARGV, 1)) do
	local m = redis.call('XRANGE', KEYS[2], e, e)
	if #m > 0 then forget(KEYS[2], KEYS[3], e, field(m[1][2], 'id')) end
	n = n + redis.call('XDEL', KEYS[1], e)
end
return n
`)

// findDeadScript returns the metadata entries of up to ARGV[1] dead
// letters that ARGV[2..] name.
var findDeadScript = redis.NewScript(deadLib + `
local out = {}
for _, e in ipairs(resolve(KEYS[2], ARGV, 2)) do
	if #out == tonumber(ARGV[1]) then break end
	for _, x in ipairs(redis.call('XRANGE', KEYS[1], e, e)) do out[#out + 1] = x end
end
return out
`)

// statsScript returns queued+in-flight, in-flight, retrying, dead, and the
// received_at of the stream's head and of the earliest due retry.
var statsScript = redis.NewScript(`
local function receivedAt(f)
	for i = 1, #f, 2 do if f[i] == 'received_at' then return f[i + 1] end end
	return ''
end
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1])
local inflight = 0
if not pending.err then inflight = pending[1] end
local head, retryHead = '', ''
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 then head = receivedAt(first[1][2]) end
local due = redis.call('ZRANGE', KEYS[2], 0, 0)
if #due > 0 then
	local packed = redis.call('HGET', KEYS[3], due[1])
	if packed then retryHead = receivedAt(cmsgpack.unpack(packed)) end
end
return {redis.call('XLEN', KEYS[1]), inflight, redis.call('ZCARD', KEYS[2]), redis.call('XLEN', KEYS[4]), head, retryHead}
`)

// redriveBatch bounds the work of one redrive script call.
const redriveBatch = 100

// claimEnqueueScript takes the claim committed at once (the event is
// queued in the same step) with one SET NX GET; a held key changes nothing
// and its value gives the outcome, in claimOutcomes' order. A failed XADD
// deletes the key again, so that the sender's retry goes through; a
// failed SET (a key that is not a string) fails its call alone. A new
// event costs Redis two commands (SET, XADD) per destination's stream
// within the EVALSHA.
var claimEnqueueScript = newMultiScript(`
local held = redis.pcall('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'PX', ARGV[2])
if type(held) == 'table' and held.err then return held.err end
if held then
	if #ARGV[1] > 1 and string.sub(held, 2) == string.sub(ARGV[1], 2) then return 1 end
	if string.sub(held, 1, 1) == 'p' then return 3 end
	return 2
end
` + xaddEach + `
if err then
	redis.call('DEL', KEYS[1])
	return err
end
return 0
`)

// Enqueue adds ev to every destination's stream and commits c. On one
// server (or Sentinel) this is one atomic script. In a Cluster the streams
// live in other slots than the claim, so it is one pipeline of plain
// commands, sent to each node at once; if part of it fails the caller gets
// an error, answers non-2xx and releases the claim, and the sender's retry
// can at worst deliver an event twice (at least once, never lost).
func (r *Redis) Enqueue(ctx context.Context, c Claim, destinations []string, ev Event) error {
	if r.cluster {
		return r.enqueueCluster(ctx, c, destinations, ev)
	}
	keys, args, err := r.enqueueArgs(c, destinations, ev)
	if err != nil {
		return err
	}
	_, err = r.runMerged(ctx, enqueueScript, keys, args...)
	return err
}

// ClaimEnqueue claims c and, when it was free, enqueues ev with c committed:
// on one server one script, so the asynchronous path is one round trip. A
// Cluster cannot run it as one script (the streams live in other slots):
// there it is Claim, then Enqueue (claimThenEnqueue). Without a Key there
// is nothing to claim.
func (r *Redis) ClaimEnqueue(ctx context.Context, c Claim, destinations []string, ev Event) (Outcome, error) {
	if r.cluster || c.Key == "" {
		return claimThenEnqueue(ctx, r, c, destinations, ev)
	}
	keys, args, err := r.enqueueArgs(c, destinations, ev)
	if err != nil {
		return 0, err
	}
	n, err := r.runMerged(ctx, claimEnqueueScript, keys, args...)
	if err != nil {
		return 0, olderRedis(err)
	}
	return claimOutcome(n)
}

// enqueueArgs are the keys and arguments of enqueueScript and
// claimEnqueueScript: the claim's key, committed value and TTL, then the
// streams and the entry.
func (r *Redis) enqueueArgs(c Claim, destinations []string, ev Event) ([]string, []any, error) {
	committed := ""
	if c.Key != "" {
		committed = claimValue(claimCommitted, c)
	}
	args, err := appendEventFields(make([]any, 0, 2+eventFieldCount), ev, 0, 0, "", committed, ms(c.TTL))
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, 1+len(destinations))
	keys = append(keys, r.claimKey(c))
	for _, d := range destinations {
		keys = append(keys, r.queueKeys(d).stream)
	}
	return keys, args, nil
}

func (r *Redis) enqueueCluster(ctx context.Context, c Claim, destinations []string, ev Event) error {
	fields, err := appendEventFields(make([]any, 0, eventFieldCount), ev, 0, 0, "")
	if err != nil {
		return err
	}
	cmds := make([]redis.Cmder, 0, len(destinations)+1)
	r.batch.do(ctx, func(p redis.Pipeliner) {
		for _, d := range destinations {
			cmds = append(cmds, p.XAdd(ctx, &redis.XAddArgs{Stream: r.queueKeys(d).stream, Values: fields}))
		}
		if c.Key != "" {
			cmds = append(cmds, r.addCommit(ctx, p, c))
		}
	})
	err = firstErr(cmds)
	if commit := cmds[len(destinations):]; err != nil && len(commit) > 0 && commit[0].Err() == nil {
		// An XADD failed but the SET committed the claim: undo it (the
		// claim was ours), or the sender's retry would be taken for a
		// duplicate and the event never reach that destination.
		_ = r.client.Del(ctx, r.claimKey(c)).Err()
	}
	return err
}

// Fetch leases up to max entries in one script call.
func (r *Redis) Fetch(ctx context.Context, destination, consumer string, max int, lease time.Duration) ([]Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	k := r.queueKeys(destination)
	res, err := fetchScript.Run(ctx, r.client, []string{k.stream, k.delayed, k.retries},
		consumerGroup, consumer, max, ms(lease), time.Now().UnixMilli()).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Delivery, 0, len(res))
	for _, e := range res {
		d, err := parseEntry(e, destination)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Retry moves the entry to the delayed set, due at `at`.
func (r *Redis) Retry(ctx context.Context, d Delivery, at time.Time) error {
	entry, times := splitHandle(d.Handle)
	args, err := appendEventFields(make([]any, 0, 4+eventFieldCount), d.Event, d.Attempts, d.EarlierAttempts, d.LastError,
		consumerGroup, entry, times, at.UnixMilli())
	if err != nil {
		return err
	}
	k := r.queueKeys(d.Destination)
	return unavailable(retryScript.Run(ctx, r.client, []string{k.stream, k.delayed, k.retries}, args...).Err())
}

// Dead moves the entry to the dead-letter stream, its metadata to :dm and
// its event id to the index, in one script.
func (r *Redis) Dead(ctx context.Context, d Delivery) error {
	entry, times := splitHandle(d.Handle)
	args := make([]any, 0, 5+deadMetaCount+eventFieldCount)
	args = append(args, consumerGroup, entry, times, d.ID, deadMetaCount,
		"id", d.ID,
		"provider", d.Provider,
		"received_at", strconv.FormatInt(d.ReceivedAt.UnixNano(), 10),
		"attempts", strconv.Itoa(d.Attempts),
		"last_error", d.LastError,
		"size", strconv.Itoa(len(d.Body)),
	)
	args, err := appendEventFields(args, d.Event, d.Attempts, d.EarlierAttempts, d.LastError)
	if err != nil {
		return err
	}
	k := r.queueKeys(d.Destination)
	return unavailable(deadScript.Run(ctx, r.client, []string{k.stream, k.dead, k.deadMeta, k.deadIndex}, args...).Err())
}

// deadMetaCount is the length of a dead letter's metadata names and values.
const deadMetaCount = 12

// Stats reads the destination's counters in one script call.
func (r *Redis) Stats(ctx context.Context, destination string) (QueueStats, error) {
	k := r.queueKeys(destination)
	res, err := statsScript.Run(ctx, r.client, []string{k.stream, k.delayed, k.retries, k.dead}, consumerGroup).Slice()
	if err != nil {
		return QueueStats{}, unavailable(err)
	}
	if len(res) != 6 {
		return QueueStats{}, fmt.Errorf("stats script returned %d values", len(res))
	}
	n := make([]int64, 4)
	for i := range n {
		n[i], _ = res[i].(int64)
	}
	st := QueueStats{Destination: destination, Queued: n[0] - n[1], InFlight: n[1], Retrying: n[2], Dead: n[3]}
	now := time.Now()
	for _, v := range res[4:] {
		s, _ := v.(string)
		if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
			st.OldestAgeSeconds = max(st.OldestAgeSeconds, now.Sub(time.Unix(0, ns)).Seconds())
		}
	}
	return st, nil
}

// DeadLetters reads a page of the metadata stream.
func (r *Redis) DeadLetters(ctx context.Context, destination, after string, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		return nil, nil
	}
	start := "-"
	if after != "" {
		if !streamID.MatchString(after) {
			return nil, fmt.Errorf("%w: %q", ErrNoEntry, after)
		}
		start = "(" + after
	}
	msgs, err := r.client.XRangeN(ctx, r.queueKeys(destination).deadMeta, start, "+", int64(limit)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]DeadLetter, len(msgs))
	for i, m := range msgs {
		out[i] = deadLetterFromValues(m.ID, m.Values, destination)
	}
	return out, nil
}

// FindDead resolves ids through the index in one script call.
func (r *Redis) FindDead(ctx context.Context, destination string, ids []string, limit int) ([]DeadLetter, error) {
	if len(ids) == 0 || limit <= 0 {
		return nil, nil
	}
	k := r.queueKeys(destination)
	res, err := findDeadScript.Run(ctx, r.client, []string{k.deadMeta, k.deadIndex}, idArgs(ids, limit)...).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]DeadLetter, 0, len(res))
	for _, e := range res {
		id, values, err := entryValues(e)
		if err != nil {
			return nil, err
		}
		out = append(out, deadLetterFromValues(id, values, destination))
	}
	return out, nil
}

// ReadDead reads one whole dead letter.
func (r *Redis) ReadDead(ctx context.Context, destination, entry string) (*DeadLetter, error) {
	if !streamID.MatchString(entry) {
		return nil, nil
	}
	msgs, err := r.client.XRangeN(ctx, r.queueKeys(destination).dead, entry, entry, 1).Result()
	if err != nil || len(msgs) == 0 {
		return nil, unavailable(err)
	}
	d, err := deliveryFromValues(entry, msgs[0].Values, destination)
	if err != nil {
		return nil, err
	}
	return &DeadLetter{
		Entry: entry, ID: d.ID, Provider: d.Provider, Destination: destination,
		Attempts: d.Attempts, LastError: d.LastError, BodySize: len(d.Body),
		ReceivedAt: d.ReceivedAt, DiedAt: entryTime(entry), Header: d.Header, Body: d.Body,
	}, nil
}

// Redrive moves dead letters back to the queue, all of them (in batches)
// when ids is empty.
func (r *Redis) Redrive(ctx context.Context, destination string, ids []string) (int, error) {
	k := r.queueKeys(destination)
	keys := []string{k.dead, k.stream, k.deadMeta, k.deadIndex}
	if len(ids) > 0 {
		n, err := redriveScript.Run(ctx, r.client, keys, idArgs(ids, len(ids))...).Int()
		return n, unavailable(err)
	}
	total := 0
	for {
		n, err := redriveScript.Run(ctx, r.client, keys, redriveBatch).Int()
		total += n
		if err != nil || n < redriveBatch {
			return total, unavailable(err)
		}
	}
}

// DeleteDead drops dead letters in one script call.
func (r *Redis) DeleteDead(ctx context.Context, destination string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	k := r.queueKeys(destination)
	n, err := deleteDeadScript.Run(ctx, r.client, []string{k.dead, k.deadMeta, k.deadIndex}, idArgs(ids)...).Int()
	return n, unavailable(err)
}

// idArgs is a script's ARGV: head, then the ids.
func idArgs(ids []string, head ...any) []any {
	args := make([]any, 0, len(head)+len(ids))
	args = append(args, head...)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

// entryTime is when a stream entry was added: its id's milliseconds.
func entryTime(entry string) time.Time {
	msPart, _, _ := strings.Cut(entry, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func deadLetterFromValues(entry string, v map[string]any, destination string) DeadLetter {
	str := func(name string) string { s, _ := v[name].(string); return s }
	d := DeadLetter{Entry: entry, ID: str("id"), Provider: str("provider"), Destination: destination,
		LastError: str("last_error"), DiedAt: entryTime(entry)}
	if ns, err := strconv.ParseInt(str("received_at"), 10, 64); err == nil {
		d.ReceivedAt = time.Unix(0, ns)
	}
	d.Attempts, _ = strconv.Atoi(str("attempts"))
	d.BodySize, _ = strconv.Atoi(str("size"))
	return d
}

// streamID guards scripts against ids that XRANGE would reject.
var streamID = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// eventFieldCount is the length of an entry's names and values (earlier
// attempts, only after a redrive, not counted).
const eventFieldCount = 14

// appendEventFields appends head, then the stream entry of an event as
// alternating names and values, to dst.
func appendEventFields(dst []any, ev Event, attempts, earlier int, lastError string, head ...any) ([]any, error) {
	header, err := headerJSON(ev.Header)
	if err != nil {
		return nil, fmt.Errorf("encoding headers: %w", err)
	}
	dst = append(dst, head...)
	dst = append(dst,
		"id", ev.ID,
		"provider", ev.Provider,
		"headers", header,
		"body", ev.Body,
		"received_at", strconv.FormatInt(ev.ReceivedAt.UnixNano(), 10),
		"attempts", strconv.Itoa(attempts),
		"last_error", lastError,
	)
	if earlier > 0 {
		dst = append(dst, "earlier", strconv.Itoa(earlier))
	}
	return dst, nil
}

// headerJSON is json.Marshal(h) for the usual headers, names and values of
// printable ASCII, without reflection; others go through encoding/json.
func headerJSON(h http.Header) ([]byte, error) {
	if h == nil {
		return []byte("null"), nil
	}
	n := 2
	for name, values := range h {
		if values == nil || !plainJSON(name) {
			return json.Marshal(h)
		}
		n += len(name) + 6
		for _, v := range values {
			if !plainJSON(v) {
				return json.Marshal(h)
			}
			n += len(v) + 3
		}
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for name, values := range h {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":[`...)
		for i, v := range values {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, v...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// plainJSON reports whether s is a JSON string's content as it is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parseEntry reads one {id, {name, value, ...}[, times handed out]} entry
// of fetchScript's reply.
func parseEntry(e any, destination string) (Delivery, error) {
	times := int64(1)
	if pair, ok := e.([]any); ok && len(pair) == 3 {
		times, ok = pair[2].(int64)
		if !ok || times < 1 {
			return Delivery{}, errors.New("malformed stream entry")
		}
		e = pair[:2]
	}
	id, values, err := entryValues(e)
	if err != nil {
		return Delivery{}, err
	}
	d, err := deliveryFromValues(id, values, destination)
	if err == nil && times > 1 {
		d.Handle += handleSep + strconv.FormatInt(times, 10)
	}
	return d, err
}

// handleSep separates a Delivery's Handle, the stream entry id, from the
// number of times the entry was handed out, when it was taken over after
// a lease (more than once).
const handleSep = "#"

// splitHandle returns the stream entry and the times it was handed out
// that a Handle names.
func splitHandle(h string) (entry, times string) {
	entry, times, found := strings.Cut(h, handleSep)
	if !found {
		times = "1"
	}
	return entry, times
}

// entryValues splits a script reply's stream entry into its id and fields.
func entryValues(e any) (string, map[string]any, error) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, errors.New("malformed stream entry")
	}
	id, _ := pair[0].(string)
	flat, _ := pair[1].([]any)
	values := make(map[string]any, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		name, _ := flat[i].(string)
		values[name] = flat[i+1]
	}
	return id, values, nil
}

func deliveryFromValues(id string, v map[string]any, destination string) (Delivery, error) {
	str := func(name string) string { s, _ := v[name].(string); return s }
	d := Delivery{Destination: destination, Handle: id, LastError: str("last_error")}
	d.ID, d.Provider, d.Body = str("id"), str("provider"), []byte(str("body"))
	if h := str("headers"); h != "" && h != "null" {
		var ok bool
		if d.Header, ok = parsePlainHeaderJSON(h); !ok {
			d.Header = make(http.Header)
			if err := json.Unmarshal([]byte(h), &d.Header); err != nil {
				return Delivery{}, fmt.Errorf("queue entry %s: headers: %w", id, err)
			}
		}
	}
	if ns, err := strconv.ParseInt(str("received_at"), 10, 64); err == nil {
		d.ReceivedAt = time.Unix(0, ns)
	}
	d.Attempts, _ = strconv.Atoi(str("attempts"))
	d.EarlierAttempts, _ = strconv.Atoi(str("earlier"))
	return d, nil
}
