package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
)

// In memory, each destination orders its entries in three B-trees (ready
// by arrival, retry by due time, dead by arrival) and keeps the leased ones
// aside. A fetched Delivery's Handle is "<event id>.<lease number>", so
// that a consumer whose lease was taken over cannot move the entry; a dead
// letter's is the event id.

// logEvent is a queued event: where its record and its entry encoding are,
// and the destinations it still has to reach.
type logEvent struct {
	id        uint64
	received  int64
	seg       *segment
	recOff    int64
	recSize   uint32
	entryOff  int64
	entrySize uint32
	entries   []*logEntry
	meta      *deadMeta // set once an entry of the event is dead
}

func (ev *logEvent) entry(dest string) *logEntry {
	for _, e := range ev.entries {
		if e.dest.name == dest {
			return e
		}
	}
	return nil
}

func (ev *logEvent) drop(e *logEntry) {
	for i, other := range ev.entries {
		if other == e {
			ev.entries = append(ev.entries[:i], ev.entries[i+1:]...)
			return
		}
	}
}

// states lists the event's current per-destination states.
func (ev *logEvent) states() []entryState {
	out := make([]entryState, len(ev.entries))
	for i, e := range ev.entries {
		out[i] = e.entryState()
	}
	return out
}

// logEntry is one event for one destination.
type logEntry struct {
	ev       *logEvent
	dest     *logDest
	state    byte
	attempts int
	earlier  int // attempts before the latest redrive
	lastErr  string
	due      int64 // retry: unix ns when due; dead: unix ns when it died
	leaseEnd int64 // unix ns; 0 = not leased
	lease    uint64
}

func (e *logEntry) entryState() entryState {
	return entryState{dest: e.dest.name, state: e.state, attempts: e.attempts, earlier: e.earlier, lastErr: e.lastErr, due: e.due}
}

func (e *logEntry) handle() string {
	return strconv.FormatUint(e.ev.id, 10) + "." + strconv.FormatUint(e.lease, 10)
}

type logDest struct {
	name               string
	ready, retry, dead *btree.BTreeG[*logEntry]
	leased             map[*logEntry]struct{}
	deadByID           *btree.BTreeG[*logEntry] // the dead ones again, by event id
}

func byArrival(a, b *logEntry) bool { return a.ev.id < b.ev.id }

func byDue(a, b *logEntry) bool {
	return a.due < b.due || a.due == b.due && a.ev.id < b.ev.id
}

func (s *Log) dest(name string) *logDest {
	d := s.dests[name]
	if d == nil {
		d = &logDest{
			name:     name,
			ready:    btree.NewG(32, byArrival),
			retry:    btree.NewG(32, byDue),
			dead:     btree.NewG(32, byArrival),
			leased:   make(map[*logEntry]struct{}),
			deadByID: btree.NewG(32, byEventID),
		}
		s.dests[name] = d
	}
	return d
}

func (d *logDest) tree(state byte) *btree.BTreeG[*logEntry] {
	switch state {
	case stateReady:
		return d.ready
	case stateRetry:
		return d.retry
	}
	return d.dead
}

// insert files an unleased entry by its state, and a dead one by its
// event id too.
func (d *logDest) insert(e *logEntry) {
	e.leaseEnd = 0
	d.tree(e.state).ReplaceOrInsert(e)
	if e.state == stateDead {
		if e.ev.meta == nil {
			e.ev.meta = readDeadMeta(e.ev)
		}
		d.deadByID.ReplaceOrInsert(e)
	}
}

func (d *logDest) remove(e *logEntry) {
	if e.leaseEnd != 0 {
		delete(d.leased, e)
		return
	}
	d.tree(e.state).Delete(e)
	if e.state == stateDead {
		d.deadByID.Delete(e)
	}
}

// releaseLapsed makes the entries whose lease ended fetchable again.
func (d *logDest) releaseLapsed(now int64) {
	for e := range d.leased {
		if e.leaseEnd <= now {
			delete(d.leased, e)
			d.insert(e)
		}
	}
}

// lookup finds a destination's entry of event id, or nil.
func (s *Log) lookup(destination string, id uint64) *logEntry {
	if ev := s.events[id]; ev != nil {
		return ev.entry(destination)
	}
	return nil
}

func parseDeliveryHandle(h string) (id, lease uint64, ok bool) {
	idPart, leasePart, found := strings.Cut(h, ".")
	if !found {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(idPart, 10, 64)
	lease, err2 := strconv.ParseUint(leasePart, 10, 64)
	return id, lease, err1 == nil && err2 == nil
}

// Enqueue appends ev for every destination and commits c, in one record
// group of the next commit.
func (s *Log) Enqueue(_ context.Context, c Claim, destinations []string, ev Event) error {
	buf := entryBuffers.Get().(*[]byte)
	entry := appendEntry((*buf)[:0], ev, 0, "")
	defer func() {
		if cap(entry) <= 64<<10 { // a rare large body is not kept
			*buf = entry
			entryBuffers.Put(buf)
		}
	}()
	now := time.Now()
	states := make([]entryState, len(destinations))
	for i, d := range destinations {
		states[i] = entryState{dest: d, state: stateReady}
	}
	return s.submit(func(b []byte) []byte {
		id := s.nextID
		s.nextID++
		b = c.appendRecord(b, now)
		return appendEventRecord(b, id, ev.ReceivedAt.UnixNano(), states, entry)
	})
}

// entryBuffers recycles the encoding of enqueued events: it is copied into
// the group's frame.
var entryBuffers = sync.Pool{New: func() any { return new([]byte) }}

// entryRef is what reading a fetched entry needs once mu is released.
type entryRef struct {
	d   Delivery
	seg *segment
	off int64
	n   uint32
}

func refOf(e *logEntry, handle string) entryRef {
	return entryRef{
		d:   Delivery{Destination: e.dest.name, Attempts: e.attempts, EarlierAttempts: e.earlier, LastError: e.lastErr, Handle: handle},
		seg: e.ev.seg, off: e.ev.entryOff, n: e.ev.entrySize,
	}
}

// read decodes the entries of refs from their segments. It is called with
// mu held and releases it once segMu keeps the files from being removed.
func (s *Log) read(refs []entryRef) ([]Delivery, error) {
	s.segMu.RLock()
	s.mu.Unlock()
	defer s.segMu.RUnlock()
	if s.closed.Load() {
		return nil, errClosed
	}
	out := make([]Delivery, len(refs))
	for i, r := range refs {
		buf := make([]byte, r.n)
		if _, err := r.seg.f.ReadAt(buf, r.off); err != nil {
			return nil, fmt.Errorf("%w: reading queued event: %w", ErrUnavailable, err)
		}
		d := r.d
		if err := decodeEntry(buf, &d); err != nil {
			return nil, fmt.Errorf("%w: queued event %s: %w", ErrUnavailable, d.Handle, err)
		}
		d.Attempts, d.LastError = r.d.Attempts, r.d.LastError
		out[i] = d
	}
	return out, nil
}

// Fetch leases up to max entries: due retries first, then ready ones in
// arrival order.
func (s *Log) Fetch(_ context.Context, destination, _ string, max int, lease time.Duration) ([]Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if max <= 0 {
		return nil, nil
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	d := s.dests[destination]
	if d == nil {
		s.mu.Unlock()
		return nil, nil
	}
	d.releaseLapsed(now)
	var picked []*logEntry
	d.retry.Ascend(func(e *logEntry) bool {
		if e.due > now || len(picked) == max {
			return false
		}
		picked = append(picked, e)
		return true
	})
	d.ready.Ascend(func(e *logEntry) bool {
		if len(picked) == max {
			return false
		}
		picked = append(picked, e)
		return true
	})
	refs := make([]entryRef, len(picked))
	for i, e := range picked {
		d.remove(e)
		e.lease++
		e.leaseEnd = now + int64(lease)
		d.leased[e] = struct{}{}
		refs[i] = refOf(e, e.handle())
	}
	return s.read(refs)
}

// change writes a state change of the leased entry d names, unless it was
// delivered, dead or leased again meanwhile (then it is moot). An
// acknowledgement is lazy (see Log).
func (s *Log) change(d Delivery, to entryState) error {
	id, lease, ok := parseDeliveryHandle(d.Handle)
	if !ok {
		return fmt.Errorf("embedded store: invalid delivery handle %q", d.Handle)
	}
	to.dest = d.Destination
	return s.write(func(b []byte) []byte { return s.appendChange(b, d, id, lease, to) }, to.state == stateGone)
}

// appendChange appends to b the record of change, unless it is moot.
func (s *Log) appendChange(b []byte, d Delivery, id, lease uint64, to entryState) []byte {
	e := s.lookup(d.Destination, id)
	if e == nil || e.state == stateDead || e.lease != lease && to.state != stateGone {
		return b
	}
	if to.state == stateDead && e.ev.meta == nil {
		// Known here, so that filing the dead letter reads nothing.
		e.ev.meta = &deadMeta{id: d.ID, provider: d.Provider, bodySize: len(d.Body)}
	}
	return appendStateRecord(b, id, to)
}

// Ack removes a delivered entry.
func (s *Log) Ack(_ context.Context, d Delivery) error {
	return s.change(d, entryState{state: stateGone})
}

// AckMany removes delivered entries in one write: an acknowledgement
// waits for the group commit in progress (an fsync while events come in),
// and a worker's senders would wait for it one by one.
func (s *Log) AckMany(_ context.Context, ds []Delivery) error {
	type ref struct{ id, lease uint64 }
	refs := make([]ref, len(ds))
	for i, d := range ds {
		id, lease, ok := parseDeliveryHandle(d.Handle)
		if !ok {
			return fmt.Errorf("embedded store: invalid delivery handle %q", d.Handle)
		}
		refs[i] = ref{id, lease}
	}
	return s.write(func(b []byte) []byte {
		for i, d := range ds {
			b = s.appendChange(b, d, refs[i].id, refs[i].lease, entryState{state: stateGone, dest: d.Destination})
		}
		return b
	}, true)
}

// Retry makes the entry due again at `at`, recording d's attempts and error.
func (s *Log) Retry(_ context.Context, d Delivery, at time.Time) error {
	return s.change(d, entryState{state: stateRetry, attempts: d.Attempts, earlier: d.EarlierAttempts, lastErr: d.LastError, due: at.UnixNano()})
}

// Dead moves the entry to the dead letters, noting when.
func (s *Log) Dead(_ context.Context, d Delivery) error {
	return s.change(d, entryState{state: stateDead, attempts: d.Attempts, earlier: d.EarlierAttempts, lastErr: d.LastError, due: time.Now().UnixNano()})
}

// Stats counts the destination's entries; leased ones are in flight.
func (s *Log) Stats(_ context.Context, destination string) (QueueStats, error) {
	st := QueueStats{Destination: destination}
	if s.closed.Load() {
		return st, errClosed
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dests[destination]
	if d == nil {
		return st, nil
	}
	d.releaseLapsed(now.UnixNano())
	st.Queued, st.Retrying, st.Dead = int64(d.ready.Len()), int64(d.retry.Len()), int64(d.dead.Len())
	st.InFlight = int64(len(d.leased))
	oldest := int64(0)
	consider := func(e *logEntry) {
		if oldest == 0 || e.ev.received < oldest {
			oldest = e.ev.received
		}
	}
	for _, t := range []*btree.BTreeG[*logEntry]{d.ready, d.retry} {
		if e, ok := t.Min(); ok {
			consider(e)
		}
	}
	for e := range d.leased {
		consider(e)
	}
	if oldest != 0 {
		st.OldestAgeSeconds = now.Sub(time.Unix(0, oldest)).Seconds()
	}
	return st, nil
}

// copyLive appends to frame the records of a compacted segment's frame
// that are still needed: current claims as they are, and a snapshot of
// each event that still has destinations to reach. Under mu.
func (s *Log) copyLive(frame []byte, seg *segment, off int64, payload []byte, now int64) []byte {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	_ = forEachRecord(payload, off, func(typ byte, body []byte, off int64) error {
		dec := &decoder{b: body}
		switch typ {
		case recClaim:
			exp, _, key := claimRecord(dec)
			rec, ok := s.claims[maphash.Bytes(s.seed, key)]
			if dec.err == nil && ok && rec.seg == seg && rec.exp == exp && exp > now {
				var start int
				frame, start = beginRecord(frame, recClaim)
				frame = endRecord(append(frame, body...), start)
			}
		case recEvent:
			id := dec.uvarint()
			ev := s.events[id]
			if ev != nil && ev.seg == seg && ev.recOff == off {
				entry := body[len(body)-int(ev.entrySize):]
				frame = appendEventRecord(frame, id, ev.received, ev.states(), entry)
			}
		}
		return nil
	})
	return frame
}
