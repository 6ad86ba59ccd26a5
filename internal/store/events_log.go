package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The embedded store's event log lives in <dir>/events, in segment files
// of its own, created by the first RecordEvents (a Log that records no
// event has no such directory and pays nothing at open). A segment starts
// with a header like the queue's (log_format.go), with its own magic and
// version, and holds frames of the same shape: sync marker, length,
// CRC-32C, payload. Each record and each attempt is a frame of its own, so
// that damage costs the one record or attempt it hit; a RecordEvents call
// writes all of its frames with one write. Payloads are:
//
//	R  key, metadata length (2 bytes), metadata, header, body
//	A  key, the segment and offset of the key's previous attempt frame,
//	   the attempt
//	X  an expiry cutoff: records received before it are hidden
//
// where a key is an EventKey in binary: 8 bytes of time, 4 of digest.
//
// Memory holds only an index (evEntry, 40 bytes a record) sorted by key:
// where a record's frame is and where its latest attempt frame is, whose
// own frame points to the one before. Listing reads each record's
// metadata from disk (never its body); ReadEvent reads the body and walks
// the attempt chain back. Nothing is synced per call: the log is
// observability, so the active segment is synced at most once a second
// in the background, when sealed, and on Close.
//
// Segments roll at eventSegmentSize, so that ExpireEvents drops whole
// files; records left in a segment kept for a newer one are hidden by the
// cutoff, which an X frame keeps across a restart.

const (
	eventsDir           = "events"
	eventSegmentExt     = ".evl"
	eventSegmentMagic   = "WHI-EVL\n"
	eventSegmentVersion = 1
	// defaultEventSegmentSize is where a segment rolls: small enough that
	// expiry frees space in steps, large enough that a day is few files.
	defaultEventSegmentSize = 32 << 20

	evRecord  = 'R'
	evAttempt = 'A'
	evExpire  = 'X'

	evKeyLen = 12
	// evRecordHead is a record payload's bytes before its metadata.
	evRecordHead = 1 + evKeyLen + 2

	// Destinations come from the configuration, not the request, yet a
	// record's metadata must fit its 2-byte length: at most this many, each
	// cut to maxEventDest.
	maxEventDests = 32
	maxEventDest  = 1024
)

// eventStates numbers the states for the index's state byte and the
// frames; 0 is a state this build does not know, read back as "".
var eventStates = [...]string{"", StatePassed, StateFailed, StateUnrouted, StateQueued, StateDelivered, StateRetrying, StateDead}

func stateCode(s string) byte {
	for i, name := range eventStates {
		if name == s {
			return byte(i)
		}
	}
	return 0
}

// stateName is the state of a code; "" for one this build does not know.
func stateName(code byte) string {
	if int(code) < len(eventStates) {
		return eventStates[code]
	}
	return ""
}

// evKey is an EventKey as numbers, which sort as the key does.
type evKey struct {
	t uint64 // the time part: received at, unix ns
	d uint32 // the digest part
}

func (k evKey) less(o evKey) bool { return k.t < o.t || k.t == o.t && k.d < o.d }

// String is the EventKey: its binary form in hex.
func (k evKey) String() string {
	var raw [evKeyLen]byte
	var out [2 * evKeyLen]byte
	hex.Encode(out[:], appendEvKey(raw[:0], k))
	return string(out[:])
}

// parseEventKey reads an EventKey; ok is false for anything else.
func parseEventKey(s string) (k evKey, ok bool) {
	if !isEventKey(s) {
		return k, false
	}
	t, _ := strconv.ParseUint(s[:16], 16, 64)
	d, _ := strconv.ParseUint(s[16:], 16, 32)
	return evKey{t, uint32(d)}, true
}

func appendEvKey(b []byte, k evKey) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(b, k.t), k.d)
}

func readEvKey(b []byte) evKey {
	return evKey{binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])}
}

// evLoc is where a frame starts: a segment id (0: none) and an offset.
type evLoc struct{ seg, off uint32 }

func (l evLoc) before(o evLoc) bool { return l.seg < o.seg || l.seg == o.seg && l.off < o.off }

// evSeg is one segment file of the event log.
type evSeg struct {
	id     uint32
	f      *os.File
	marker marker
	size   int64  // bytes of the header and the frames
	newest uint64 // key time of the newest record or attempt in it
}

// eventLog is the Log's event log. The writer lock orders the writes
// (RecordEvents, ExpireEvents, the background sync, Close); the index and
// the segment list change only under both it and mu, so a writer reads
// them without mu, and readers under mu's read lock, reading the files
// after they let it go.
type eventLog struct {
	dir     string
	seed    maphash.Seed
	segSize int64

	wmu    sync.Mutex
	active *evSeg // appended to; nil until a write needs one
	lastID uint32 // of the newest segment, dropped or not: ids are not reused
	dirty  bool   // the active segment has unsynced writes
	// frames is the last batch's buffer, reused by the next so that
	// a batch's frames cost no allocation (up to maxReusedFrames).
	frames []byte
	stop   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool

	mu         sync.RWMutex
	segs       []*evSeg // oldest first
	index      evIndex
	hideBefore uint64 // the latest expiry cutoff: key times before it are gone
	// relink, filled at open, gives an attempt frame's previous one where
	// the frame's own pointer names one that was damaged or dropped.
	relink map[evLoc]evLoc
}

var _ EventLog = (*Log)(nil)

// maxReusedFrames bounds the buffer kept between batches.
const maxReusedFrames = 4 << 20

// RecordEvents appends the batch's records and attempts to the active
// segment with one write, and indexes them. A record or attempt whose key
// is not an EventKey (a record without one gets EventKey's) is left out
// and reported after the others are written; one received before the
// latest expiry cutoff is left out silently.
func (s *Log) RecordEvents(ctx context.Context, b EventBatch) error {
	if len(b.Records) == 0 && len(b.Attempts) == 0 {
		return nil
	}
	ev, err := s.writeEvents(ctx)
	if err != nil {
		return err
	}
	defer ev.wmu.Unlock()
	if ev.active == nil {
		if err := ev.roll(); err != nil {
			return fmt.Errorf("%w: event log: %w", ErrUnavailable, err)
		}
	}
	buf, skipped := ev.build(ev.frames[:0], ev.active, b)
	if cap(buf) <= maxReusedFrames {
		defer func() { ev.frames = buf[:0] }()
	}
	if ev.active.size+int64(len(buf)) > ev.segSize && ev.active.size > int64(segmentHeaderLen) {
		if err := ev.roll(); err != nil {
			return fmt.Errorf("%w: event log: %w", ErrUnavailable, err)
		}
		buf, _ = ev.build(buf[:0], ev.active, b) // its offsets and marker are the new segment's
	}
	if ev.active.size+int64(len(buf)) > math.MaxUint32 {
		return fmt.Errorf("event log: a batch of %d bytes does not fit a segment", len(buf))
	}
	if err := ev.append(buf); err != nil {
		return fmt.Errorf("%w: event log: %w", ErrUnavailable, err)
	}
	if skipped > 0 {
		return fmt.Errorf("event log: %d records or attempts without an event key left out", skipped)
	}
	return nil
}

// append writes frames, built for the end of the active segment, with one
// write, and indexes them; under the writer lock.
func (ev *eventLog) append(frames []byte) error {
	if len(frames) == 0 {
		return nil
	}
	seg := ev.active
	// A failed write leaves size as it was: the next one overwrites it.
	if _, err := seg.f.WriteAt(frames, seg.size); err != nil {
		return err
	}
	ev.mu.Lock()
	for p := int64(0); p < int64(len(frames)); {
		payload, n, _ := parseFrame(frames[p:], seg.marker) // built for seg: intact
		_ = ev.apply(seg, seg.size+p, payload, false)
		p += n
	}
	seg.size += int64(len(frames))
	ev.mu.Unlock()
	ev.dirty = true
	return nil
}

// build appends the frames of b, placed at the end of seg, to buf. It
// runs under the writer lock.
func (ev *eventLog) build(buf []byte, seg *evSeg, b EventBatch) ([]byte, int) {
	skipped := 0
	// keep reads a key: false for one that is no EventKey (counted) or
	// that the expiry cutoff hides.
	keep := func(key string) (evKey, bool) {
		k, ok := parseEventKey(key)
		if !ok {
			skipped++
		}
		return k, ok && k.t >= ev.hideBefore
	}
	for _, r := range b.Records {
		if r.Key == "" {
			r.Key = EventKey(r.ReceivedAt, r.Provider, r.ID)
		}
		k, ok := keep(r.Key)
		if !ok {
			continue
		}
		start := len(buf)
		buf = appendRecordPayload(append(buf, make([]byte, frameHeader)...), k, r.Bounded())
		putFrameHeader(buf[start:], seg.marker)
	}
	// prev is the latest attempt frame of a key that this batch wrote.
	var prev map[evKey]evLoc
	for _, a := range b.Attempts {
		k, ok := keep(a.Key)
		if !ok {
			continue
		}
		loc := evLoc{seg.id, uint32(seg.size + int64(len(buf)))}
		before, ok := prev[k]
		if !ok {
			if e := ev.index.get(k); e != nil {
				before = e.att
			}
		}
		if prev == nil {
			prev = make(map[evKey]evLoc)
		}
		prev[k] = loc
		start := len(buf)
		buf = appendAttemptPayload(append(buf, make([]byte, frameHeader)...), k, before, a.Bounded())
		putFrameHeader(buf[start:], seg.marker)
	}
	return buf, skipped
}

func appendRecordPayload(b []byte, k evKey, r EventRecord) []byte {
	b = appendEvKey(append(b, evRecord), k)
	b = append(b, 0, 0)
	metaAt := len(b)
	b = appendString(b, r.ID)
	b = appendString(b, r.Provider)
	b = appendString(b, r.Scope)
	b = appendString(b, r.Type)
	var flags byte
	if r.Async {
		flags = 1
	}
	b = append(b, flags, stateCode(r.State))
	b = binary.AppendVarint(b, r.ReceivedAt.UnixNano())
	b = binary.AppendVarint(b, int64(r.Answer))
	b = binary.AppendVarint(b, int64(r.BodySize))
	dests := r.Destinations[:min(len(r.Destinations), maxEventDests)]
	b = binary.AppendUvarint(b, uint64(len(dests)))
	for _, d := range dests {
		b = appendString(b, bounded(d, maxEventDest))
	}
	binary.BigEndian.PutUint16(b[metaAt-2:], uint16(len(b)-metaAt))
	// Header and body as a queue entry holds them (codec.go).
	return appendEntry(b, Event{Header: r.Header, Body: r.Body}, 0, "")
}

func appendAttemptPayload(b []byte, k evKey, prev evLoc, a EventAttempt) []byte {
	b = appendEvKey(append(b, evAttempt), k)
	b = binary.BigEndian.AppendUint32(b, prev.seg)
	b = binary.BigEndian.AppendUint32(b, prev.off)
	b = binary.AppendVarint(b, a.At.UnixNano())
	b = appendString(b, bounded(a.Destination, maxEventDest))
	b = binary.AppendVarint(b, int64(a.Attempt))
	b = binary.AppendVarint(b, int64(a.Status))
	b = binary.AppendVarint(b, int64(a.Duration))
	var flags byte
	if a.Replay {
		flags = 1
	}
	b = append(b, stateCode(a.Result), flags)
	return appendString(b, a.Error)
}

// recordMeta decodes a record payload's key and metadata; the rest of
// the payload is returned in dec.
func recordMeta(payload []byte) (k evKey, r EventRecord, dec *decoder, err error) {
	if len(payload) < evRecordHead || payload[0] != evRecord {
		return k, r, nil, errCorrupt
	}
	k = readEvKey(payload[1:])
	n := int(binary.BigEndian.Uint16(payload[1+evKeyLen:]))
	if n > len(payload)-evRecordHead {
		return k, r, nil, errCorrupt
	}
	meta := &decoder{b: payload[evRecordHead : evRecordHead+n]}
	r = EventRecord{Key: k.String(), ID: meta.string(), Provider: meta.string(), Scope: meta.string(), Type: meta.string()}
	if len(meta.b) < 2 {
		return k, r, nil, errCorrupt
	}
	r.Async, r.State, meta.b = meta.b[0]&1 != 0, stateName(meta.b[1]), meta.b[2:]
	r.ReceivedAt = time.Unix(0, meta.varint())
	r.Answer = int(meta.varint())
	r.BodySize = int(meta.varint())
	if count := meta.uvarint(); count > 0 && meta.err == nil {
		r.Destinations = make([]string, 0, min(count, maxEventDests))
		for i := uint64(0); i < count && meta.err == nil; i++ {
			r.Destinations = append(r.Destinations, meta.string())
		}
	}
	if meta.err != nil || len(meta.b) > 0 {
		return k, r, nil, errCorrupt
	}
	return k, r, &decoder{b: payload[evRecordHead+n:]}, nil
}

// scanRecord checks a record payload as recordMeta and recordBody read
// it, and returns what the index keeps of it, allocating nothing: an open
// scans every record, and decoding a million of them whole made 600 MB of
// garbage.
func scanRecord(payload []byte) (k evKey, id []byte, state byte, err error) {
	if len(payload) < evRecordHead || payload[0] != evRecord {
		return k, nil, 0, errCorrupt
	}
	k = readEvKey(payload[1:])
	n := int(binary.BigEndian.Uint16(payload[1+evKeyLen:]))
	if n > len(payload)-evRecordHead {
		return k, nil, 0, errCorrupt
	}
	meta := &decoder{b: payload[evRecordHead : evRecordHead+n]}
	id = meta.bytes()
	meta.bytes() // provider
	meta.bytes() // scope
	meta.bytes() // type
	if len(meta.b) < 2 {
		return k, nil, 0, errCorrupt
	}
	state, meta.b = meta.b[1], meta.b[2:]
	meta.varint() // received at
	meta.varint() // answer
	meta.varint() // body size
	for count := meta.uvarint(); count > 0 && meta.err == nil; count-- {
		meta.bytes()
	}
	if meta.err != nil || len(meta.b) > 0 || skipEntry(payload[evRecordHead+n:]) != nil {
		return k, nil, 0, errCorrupt
	}
	return k, id, state, nil
}

// recordBody decodes what follows a record's metadata into r.
func recordBody(dec *decoder, r *EventRecord) error {
	var d Delivery
	if err := decodeEntry(dec.b, &d); err != nil {
		return err
	}
	r.Header, r.Body = d.Header, d.Body
	return nil
}

// evAttemptHead is an attempt payload's fixed part: type, key, previous
// attempt.
const evAttemptHead = 1 + evKeyLen + 8

// attemptHead reads an attempt payload's key and previous attempt.
func attemptHead(payload []byte) (k evKey, prev evLoc, ok bool) {
	if len(payload) < evAttemptHead || payload[0] != evAttempt {
		return k, prev, false
	}
	k = readEvKey(payload[1:])
	prev = evLoc{binary.BigEndian.Uint32(payload[1+evKeyLen:]), binary.BigEndian.Uint32(payload[1+evKeyLen+4:])}
	return k, prev, true
}

// scanAttempt checks an attempt payload as attemptFrame reads it and
// returns what the index keeps of it, allocating nothing.
func scanAttempt(payload []byte) (k evKey, prev evLoc, result byte, err error) {
	k, prev, ok := attemptHead(payload)
	if !ok {
		return k, prev, 0, errCorrupt
	}
	dec := &decoder{b: payload[evAttemptHead:]}
	dec.varint() // at
	dec.bytes()  // destination
	dec.varint() // attempt
	dec.varint() // status
	dec.varint() // duration
	if dec.err != nil || len(dec.b) < 2 {
		return k, prev, 0, errCorrupt
	}
	result, dec.b = dec.b[0], dec.b[2:]
	dec.bytes() // error
	if dec.err != nil || len(dec.b) > 0 {
		return k, prev, 0, errCorrupt
	}
	return k, prev, result, nil
}

// attemptFrame decodes an attempt payload.
func attemptFrame(payload []byte) (k evKey, prev evLoc, a EventAttempt, err error) {
	k, prev, ok := attemptHead(payload)
	if !ok {
		return k, prev, a, errCorrupt
	}
	dec := &decoder{b: payload[evAttemptHead:]}
	a = EventAttempt{Key: k.String(), At: time.Unix(0, dec.varint()), Destination: dec.string()}
	a.Attempt = int(dec.varint())
	a.Status = int(dec.varint())
	a.Duration = time.Duration(dec.varint())
	if dec.err != nil || len(dec.b) < 2 {
		return k, prev, a, errCorrupt
	}
	a.Result, a.Replay, dec.b = stateName(dec.b[0]), dec.b[1]&1 != 0, dec.b[2:]
	a.Error = dec.string()
	if dec.err != nil || len(dec.b) > 0 {
		return k, prev, a, errCorrupt
	}
	return k, prev, a, nil
}

// apply indexes the frame at off of seg, under mu (or alone, at open);
// the same code serves the open and every write. At open it also notes
// where an attempt's pointer to its previous one is stale.
func (ev *eventLog) apply(seg *evSeg, off int64, payload []byte, opening bool) error {
	if len(payload) == 0 {
		return errCorrupt
	}
	loc := evLoc{seg.id, uint32(off)}
	switch payload[0] {
	case evRecord:
		k, id, state, err := scanRecord(payload)
		if err != nil {
			return err
		}
		e := ev.index.get(k)
		if e == nil {
			e = ev.index.insert(evEntry{kt: k.t, kd: k.d})
		}
		e.rec, e.metaLen, e.idHash = loc, binary.BigEndian.Uint16(payload[1+evKeyLen:]), uint32(maphash.Bytes(ev.seed, id))
		if e.attempts == 0 {
			e.state = state
		}
		seg.newest = max(seg.newest, k.t)
	case evAttempt:
		k, prev, result, err := scanAttempt(payload)
		if err != nil {
			return err
		}
		e := ev.index.get(k)
		if e == nil {
			e = ev.index.insert(evEntry{kt: k.t, kd: k.d})
		}
		if opening && prev != e.att {
			if ev.relink == nil {
				ev.relink = make(map[evLoc]evLoc)
			}
			ev.relink[loc] = e.att
		}
		e.att, e.state = loc, result
		if e.attempts < math.MaxUint16 {
			e.attempts++
		}
		seg.newest = max(seg.newest, k.t)
	case evExpire:
		if len(payload) != 9 {
			return errCorrupt
		}
		ev.hideBefore = max(ev.hideBefore, binary.BigEndian.Uint64(payload[1:]))
	default:
		return errCorrupt
	}
	return nil
}

// idHash is what the index keeps of a Webhook-Id.
func (ev *eventLog) idHash(id string) uint32 { return uint32(maphash.String(ev.seed, id)) }

func (ev *eventLog) segmentPath(id uint32) string {
	return filepath.Join(ev.dir, fmt.Sprintf("%016x%s", id, eventSegmentExt))
}

// roll starts a new active segment (and the directory, for the first);
// the one it replaces is synced, so that only the last segment can end
// in a torn frame. It runs under the writer lock.
func (ev *eventLog) roll() error {
	if ev.active != nil {
		if err := datasync(ev.active.f); err != nil {
			return err
		}
		ev.dirty = false
	}
	if len(ev.segs) == 0 {
		if err := os.MkdirAll(ev.dir, 0o700); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(ev.dir)); err != nil {
			return err
		}
	}
	id := ev.lastID + 1
	f, err := os.OpenFile(ev.segmentPath(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h, m := newEventSegmentHeader()
	if _, err := f.WriteAt(h, 0); err != nil {
		f.Close()
		return err
	}
	if err := syncDir(ev.dir); err != nil {
		f.Close()
		return err
	}
	seg := &evSeg{id: id, f: f, marker: m, size: int64(len(h))}
	ev.lastID = id
	ev.mu.Lock()
	ev.segs = append(ev.segs, seg)
	ev.mu.Unlock()
	ev.active, ev.dirty = seg, true
	if ev.stop == nil {
		ev.startSync()
	}
	return nil
}

// newEventSegmentHeader is the queue's segment header (log_format.go) with
// the event log's magic and version.
func newEventSegmentHeader() ([]byte, marker) {
	h, m := newSegmentHeader()
	copy(h, eventSegmentMagic)
	binary.BigEndian.PutUint32(h[len(eventSegmentMagic):], eventSegmentVersion)
	binary.BigEndian.PutUint32(h[segmentHeaderLen-4:], crc32.Checksum(h[:segmentHeaderLen-4], castagnoli))
	return h, m
}

// startSync starts the background sync of the active segment.
func (ev *eventLog) startSync() {
	ev.stop = make(chan struct{})
	ev.wg.Add(1)
	go func() {
		defer ev.wg.Done()
		tick := time.NewTicker(lazySyncInterval)
		defer tick.Stop()
		for {
			select {
			case <-ev.stop:
				return
			case <-tick.C:
				ev.wmu.Lock()
				var f *os.File
				if ev.dirty && ev.active != nil {
					f, ev.dirty = ev.active.f, false
				}
				ev.wmu.Unlock()
				// Outside the lock, so that writes go on; File.Sync, not
				// datasync, for its use of the descriptor is safe against
				// expiry closing the file meanwhile (which fails it
				// harmlessly). Another failure leaves the writes to the
				// next sync, or Close's.
				if f != nil {
					_ = f.Sync()
				}
			}
		}
	}()
}

// openEvents loads the event log, if the directory has one: each segment
// is scanned and indexed, oldest first. Damage is reported through
// OnDamage and costs the frames it hit; a torn frame at the end of the
// last segment is cut off.
// writeEvents returns the event log with its writer lock held, for a
// write or an expiry.
func (s *Log) writeEvents(ctx context.Context) (*eventLog, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ev, err := s.eventLog()
	if err != nil {
		return nil, err
	}
	ev.wmu.Lock()
	if ev.closed.Load() {
		ev.wmu.Unlock()
		return nil, errClosed
	}
	return ev, nil
}

// eventLog opens the event log on first use.
func (s *Log) eventLog() (*eventLog, error) {
	s.evOpen.Do(func() { s.evErr = s.openEvents() })
	if s.evErr != nil {
		return nil, fmt.Errorf("%w: event log: %w", ErrUnavailable, s.evErr)
	}
	return &s.ev, nil
}

func (s *Log) openEvents() error {
	ev := &s.ev
	ev.dir, ev.seed, ev.segSize = filepath.Join(s.dir, eventsDir), s.seed, s.opts.eventSegmentSize
	if ev.segSize <= 0 {
		ev.segSize = defaultEventSegmentSize
	}
	names, err := filepath.Glob(filepath.Join(ev.dir, "*"+eventSegmentExt))
	if err != nil {
		return err
	}
	for i, name := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), eventSegmentExt), 16, 32)
		if err != nil || id == 0 {
			ev.closeFiles()
			return fmt.Errorf("%s: not an event log segment name", name)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			ev.closeFiles()
			return err
		}
		seg := &evSeg{id: uint32(id), f: f}
		ev.lastID = seg.id
		appendable, err := s.replayEventSegment(seg, name, i == len(names)-1)
		if err != nil {
			f.Close()
			ev.closeFiles()
			return err
		}
		ev.segs = append(ev.segs, seg)
		if appendable {
			ev.active = seg
		}
	}
	if ev.hideBefore > 0 {
		ev.index.removeIf(func(e *evEntry) bool { return e.kt < ev.hideBefore })
	}
	if len(ev.segs) > 0 {
		ev.startSync()
	}
	return nil
}

// replayEventSegment indexes a segment's frames. appendable is set for the
// last segment when its header is intact: then what follows its last
// intact frame (a torn frame, zeros) is cut off, for the next writes.
func (s *Log) replayEventSegment(seg *evSeg, path string, last bool) (appendable bool, err error) {
	ev := &s.ev
	sr, size, end, h, err := readSegmentStart(seg.f)
	if err != nil {
		return false, err
	}
	var m marker
	copy(m[:], h[min(len(h), len(eventSegmentMagic)+4):])
	intact := len(h) == segmentHeaderLen && string(h[:len(eventSegmentMagic)]) == eventSegmentMagic &&
		crc32.Checksum(h[:segmentHeaderLen-4], castagnoli) == binary.BigEndian.Uint32(h[segmentHeaderLen-4:])
	off := int64(segmentHeaderLen)
	switch {
	case intact && binary.BigEndian.Uint32(h[len(eventSegmentMagic):]) != eventSegmentVersion:
		return false, fmt.Errorf("event log: %s is event segment format version %d, and this build reads version %d: "+
			"run the Caddy that wrote it, or move it aside", path, binary.BigEndian.Uint32(h[len(eventSegmentMagic):]), eventSegmentVersion)
	case intact:
		seg.marker = m
	case end <= off:
		// Too short for a frame: in the last segment, one that a crash
		// came upon before its header was written.
		if !last && end > 0 {
			s.quarantineAndReport(seg.f, path, 0, end)
		}
		seg.size = end
		return false, nil
	default:
		// A damaged header: its copy of the marker finds the frames,
		// unless that copy is what was damaged.
		first, err := sr.next(off, end, m)
		if err != nil {
			return false, err
		}
		if first < 0 {
			first = end
		}
		seg.marker = m
		s.quarantineAndReport(seg.f, path, 0, first)
		off = first
	}
	off, err = sr.scan(off, end, seg.marker, func(off int64, payload []byte, n int64) {
		if off > math.MaxUint32 || ev.apply(seg, off, payload, true) != nil {
			s.quarantineAndReport(seg.f, path, off, n) // intact, yet not frames this build writes
		}
	}, func(off, n int64, final bool) bool {
		if final && last && intact && sr.torn(off, end, seg.marker) {
			s.report(Damage{Segment: path, Offset: off, Length: n, Torn: true})
			return true
		}
		s.quarantineAndReport(seg.f, path, off, n)
		return false
	})
	if err != nil {
		return false, err
	}
	seg.size = off
	if !last || !intact {
		return false, nil
	}
	if size > seg.size {
		if err := seg.f.Truncate(seg.size); err != nil {
			return false, err
		}
		if err := datasync(seg.f); err != nil {
			return false, err
		}
	}
	return true, nil
}

// closeEvents stops the background sync, syncs the active segment and
// closes the files. It is idempotent.
func (s *Log) closeEvents() error {
	ev := &s.ev
	// Under the writer lock, so that no write starts the sync after this.
	ev.wmu.Lock()
	if ev.closed.Swap(true) {
		ev.wmu.Unlock()
		return nil
	}
	stop := ev.stop
	ev.wmu.Unlock()
	if stop != nil {
		close(stop)
		ev.wg.Wait()
	}
	ev.wmu.Lock()
	defer ev.wmu.Unlock()
	var err error
	if ev.dirty && ev.active != nil {
		err = datasync(ev.active.f)
	}
	if cerr := ev.closeFiles(); err == nil {
		err = cerr
	}
	// A reload's new Log may open before the old one is dropped: the
	// index goes now.
	ev.mu.Lock()
	ev.index.free()
	ev.segs, ev.relink, ev.active = nil, nil, nil
	ev.mu.Unlock()
	return err
}

func (ev *eventLog) closeFiles() error {
	var first error
	for _, seg := range ev.segs {
		if err := seg.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
