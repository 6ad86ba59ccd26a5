package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"
)

// evCand is an index entry copied out for reading, with the segment of
// its record and that segment's size at the time.
type evCand struct {
	e    evEntry
	seg  *evSeg
	size int64
}

// evChunk is how many entries a listing copies out of the index at once:
// the files are read after the lock is let go.
const evChunk = 128

// lastKey is after every key.
var lastKey = evKey{math.MaxUint64, math.MaxUint32}

// ListEvents lists the records that match f, newest first, reading each
// one's metadata (not its body) from its segment.
func (s *Log) ListEvents(ctx context.Context, f EventFilter) (EventPage, error) {
	if err := f.Check(); err != nil {
		return EventPage{}, err
	}
	ev, err := s.eventLog()
	if err != nil {
		return EventPage{}, err
	}
	if ev.closed.Load() {
		return EventPage{}, errClosed
	}
	page, scan := f.limits()
	below, lower := lastKey, evKey{}
	if f.Cursor != "" {
		below, _ = parseEventKey(f.Cursor)
	}
	// Keys are in the order of ReceivedAt: the time range bounds the walk.
	if ns := f.Until.UnixNano(); !f.Until.IsZero() && ns > 0 && uint64(ns) < below.t {
		below = evKey{uint64(ns), 0}
	}
	if ns := f.Since.UnixNano(); !f.Since.IsZero() && ns > 0 {
		lower = evKey{uint64(ns), 0}
	}
	var keep func(*evEntry) bool
	if code := stateCode(f.Status); code != 0 {
		// The index knows the state: no record of another is read.
		keep = func(e *evEntry) bool { return e.state == code }
	}
	var want func(id, provider, scope []byte) bool
	if f.Provider != "" || f.Scope != "" {
		// Most records a provider or scope filter examines are not
		// decoded.
		want = func(_, provider, scope []byte) bool {
			return (f.Provider == "" || string(provider) == f.Provider) && (f.Scope == "" || string(scope) == f.Scope)
		}
	}
	var out EventPage
	var cands []evCand
	var buf []byte
	var last evKey
	examined := 0
	for {
		if err := ctx.Err(); err != nil {
			return EventPage{}, err
		}
		cands = ev.candidates(cands[:0], below, lower, evChunk, keep)
		for _, c := range cands {
			if examined == scan || len(out.Events) == page {
				out.Next = last.String()
				return out, nil
			}
			examined, last = examined+1, c.e.key()
			r, ok, err := ev.readMeta(c, &buf, want)
			if vanished(err) {
				continue
			}
			if err != nil {
				return EventPage{}, fmt.Errorf("%w: event log: %w", ErrUnavailable, err)
			}
			if ok && f.Matches(&r) {
				out.Events = append(out.Events, r)
			}
		}
		if len(cands) < evChunk {
			return out, nil
		}
		below = cands[len(cands)-1].e.key()
	}
}

// vanished reports an error of a record that is no longer there to read:
// its segment expired meanwhile, or its bytes changed since they were
// indexed.
func vanished(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, errCorrupt) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// candidates appends to dst up to n entries with a record, before below
// and not before lower (nor the expiry cutoff), newest first, that keep
// (when set) accepts.
func (ev *eventLog) candidates(dst []evCand, below, lower evKey, n int, keep func(*evEntry) bool) []evCand {
	ev.mu.RLock()
	defer ev.mu.RUnlock()
	if lower.t < ev.hideBefore {
		lower = evKey{ev.hideBefore, 0}
	}
	ev.index.descend(below, func(e *evEntry) bool {
		if e.key().less(lower) {
			return false
		}
		if e.rec.seg == 0 || keep != nil && !keep(e) {
			return true
		}
		if seg := ev.seg(e.rec.seg); seg != nil {
			dst = append(dst, evCand{*e, seg, seg.size})
		}
		return len(dst) < n
	})
	return dst
}

// seg returns the segment of id, or nil; under mu.
func (ev *eventLog) seg(id uint32) *evSeg {
	i, ok := slices.BinarySearchFunc(ev.segs, id, func(seg *evSeg, id uint32) int { return int(int64(seg.id) - int64(id)) })
	if !ok {
		return nil
	}
	return ev.segs[i]
}

// readMeta reads the metadata of c's record into a listing's record,
// unless want (when set) turns it down by its ID, provider and scope,
// which it sees without their being copied: ok is then false.
func (ev *eventLog) readMeta(c evCand, buf *[]byte, want func(id, provider, scope []byte) bool) (r EventRecord, ok bool, err error) {
	n := frameHeader + evRecordHead + int(c.e.metaLen)
	if int64(c.e.rec.off)+int64(n) > c.size {
		return r, false, errCorrupt
	}
	*buf = slices.Grow((*buf)[:0], n)[:n]
	if _, err := c.seg.f.ReadAt(*buf, int64(c.e.rec.off)); err != nil {
		return r, false, err
	}
	payload := (*buf)[frameHeader:]
	if readEvKey(payload[1:]) != c.e.key() {
		return r, false, errCorrupt
	}
	if want != nil {
		dec := decoder{b: payload[evRecordHead:]}
		if id, provider, scope := dec.bytes(), dec.bytes(), dec.bytes(); dec.err == nil && !want(id, provider, scope) {
			return r, false, nil
		}
	}
	if _, r, _, err = recordMeta(payload); err != nil {
		return r, false, err
	}
	r.State, r.Attempts = stateName(c.e.state), int(c.e.attempts)
	return r, true, nil
}

// readFrame reads and checks the frame at off of seg, whose intact bytes
// end at size.
func readFrame(seg *evSeg, size int64, off uint32) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := seg.f.ReadAt(h[:], int64(off)); err != nil {
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(h[markerLen:]))
	if int64(off)+frameHeader+n > size {
		return nil, errCorrupt // checked before it is read: a changed length allocates nothing
	}
	b := make([]byte, frameHeader+n)
	if _, err := seg.f.ReadAt(b, int64(off)); err != nil {
		return nil, err
	}
	payload, _, err := parseFrame(b, seg.marker)
	if err != nil {
		return nil, errCorrupt
	}
	return payload, nil
}

// ReadEvent reads a record with its header, body and attempts: by key, or
// else the newest record whose Webhook-Id is ref. A key of attempts alone
// (their record not written yet) reads as a record of just those.
func (s *Log) ReadEvent(ctx context.Context, ref string) (*EventRecord, error) {
	ev, err := s.eventLog()
	if err != nil {
		return nil, err
	}
	if ev.closed.Load() {
		return nil, errClosed
	}
	if k, ok := parseEventKey(ref); ok {
		var c evCand
		var found bool
		ev.mu.RLock()
		if e := ev.index.get(k); e != nil && k.t >= ev.hideBefore {
			c.e = *e
			if c.seg = ev.seg(e.rec.seg); c.seg != nil {
				c.size = c.seg.size
			}
			found = c.seg != nil || e.rec.seg == 0 // else its segment just expired
		}
		ev.mu.RUnlock()
		if found {
			r, err := ev.read(c)
			if !vanished(err) {
				return r, err
			}
		}
	}
	id := bounded(ref, maxEventField)
	h := ev.idHash(id)
	isID := func(got, _, _ []byte) bool { return string(got) == id }
	var cands []evCand
	var buf []byte
	for below := lastKey; ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cands = ev.candidates(cands[:0], below, evKey{}, evChunk, func(e *evEntry) bool { return e.idHash == h })
		for _, c := range cands {
			_, ok, err := ev.readMeta(c, &buf, isID)
			if ok {
				if r, err := ev.read(c); !vanished(err) {
					return r, err
				}
			} else if err != nil && !vanished(err) {
				return nil, fmt.Errorf("%w: event log: %w", ErrUnavailable, err)
			}
		}
		if len(cands) < evChunk {
			return nil, nil
		}
		below = cands[len(cands)-1].e.key()
	}
}

// read reads c's record (when it has one) and its attempts.
func (ev *eventLog) read(c evCand) (*EventRecord, error) {
	k := c.e.key()
	r := &EventRecord{Key: k.String(), ReceivedAt: time.Unix(0, int64(k.t))}
	if c.seg != nil {
		payload, err := readFrame(c.seg, c.size, c.e.rec.off)
		if err != nil {
			return nil, err
		}
		rk, meta, dec, err := recordMeta(payload)
		if err != nil || rk != k {
			return nil, errCorrupt
		}
		if err := recordBody(dec, &meta); err != nil {
			return nil, err
		}
		*r = meta
	}
	r.State, r.Attempts = stateName(c.e.state), int(c.e.attempts)
	// The attempt chain, newest first; each frame is before the one that
	// names it, which ends the walk on any damage.
	for loc, n := c.e.att, 0; loc.seg != 0 && n < int(c.e.attempts); n++ {
		ev.mu.RLock()
		seg, size := ev.seg(loc.seg), int64(0)
		if seg != nil {
			size = seg.size
		}
		relinked, ok := ev.relink[loc]
		ev.mu.RUnlock()
		if seg == nil {
			break
		}
		payload, err := readFrame(seg, size, loc.off)
		if vanished(err) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: event log: %w", ErrUnavailable, err)
		}
		ak, prev, a, err := attemptFrame(payload)
		if err != nil || ak != k {
			break
		}
		r.Log = append(r.Log, a)
		if ok {
			prev = relinked
		}
		if !prev.before(loc) {
			break
		}
		loc = prev
	}
	slices.Reverse(r.Log)
	return r, nil
}

// ExpireEvents drops the segments whose newest record was received before
// cutoff and, while the segments exceed maxBytes (0: no cap), the oldest
// ones but the active one, so that the cap holds within a segment. Their
// records leave the index; records before cutoff left in a segment kept
// for newer ones are hidden from then on, across restarts too.
func (s *Log) ExpireEvents(ctx context.Context, cutoff time.Time, maxBytes int64) error {
	ev, err := s.writeEvents(ctx)
	if err != nil {
		return err
	}
	defer ev.wmu.Unlock()
	var cut uint64
	if ns := cutoff.UnixNano(); !cutoff.IsZero() && ns > 0 {
		cut = uint64(ns)
	}
	var total int64
	for _, seg := range ev.segs {
		total += seg.size
	}
	var drop []*evSeg
	dropped := make(map[uint32]bool)
	for _, seg := range ev.segs {
		if seg.newest < cut || maxBytes > 0 && total > maxBytes && seg != ev.active {
			drop = append(drop, seg)
			dropped[seg.id] = true
			total -= seg.size
			if seg == ev.active {
				ev.active = nil
			}
		}
	}
	if cut > ev.hideBefore && ev.active != nil {
		// Written so that the cutoff outlives a restart; on failure it
		// holds until then.
		frame := append(make([]byte, frameHeader), evExpire)
		frame = binary.BigEndian.AppendUint64(frame, cut)
		putFrameHeader(frame, ev.active.marker)
		_ = ev.append(frame)
	}
	ev.mu.Lock()
	ev.hideBefore = max(ev.hideBefore, cut)
	ev.segs = slices.DeleteFunc(ev.segs, func(seg *evSeg) bool { return dropped[seg.id] })
	if hide := ev.hideBefore; len(drop) > 0 || len(ev.index.blocks) > 0 && ev.index.blocks[0][0].kt < hide {
		ev.index.removeIf(func(e *evEntry) bool {
			if e.kt < hide || dropped[e.rec.seg] {
				return true
			}
			if dropped[e.att.seg] {
				e.att = evLoc{}
				return e.rec.seg == 0
			}
			return false
		})
	}
	for loc, prev := range ev.relink {
		if dropped[loc.seg] {
			delete(ev.relink, loc)
		} else if dropped[prev.seg] {
			ev.relink[loc] = evLoc{}
		}
	}
	ev.mu.Unlock()
	var first error
	for _, seg := range drop {
		// Readers that copied the segment out fail with os.ErrClosed and
		// skip its records.
		seg.f.Close()
		if err := os.Remove(ev.segmentPath(seg.id)); err != nil && first == nil {
			first = fmt.Errorf("event log: %w", err)
		}
	}
	return first
}
