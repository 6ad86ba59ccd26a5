package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// The embedded store's dead letters are listed from memory: an event with
// a dead entry keeps its id, provider and body size (deadMeta), its entry
// keeps attempts, last error and when it died, and each destination files
// its dead entries by event id too (logDest.deadByID). Only ReadDead reads
// the log. An entry's name is its event's sequence number.

// deadMeta is what a dead letter's listing shows of its event.
type deadMeta struct {
	id, provider string
	bodySize     int
}

func byEventID(a, b *logEntry) bool {
	return a.ev.meta.id < b.ev.meta.id || a.ev.meta.id == b.ev.meta.id && a.ev.id < b.ev.id
}

// maxDeadHead bounds the first read of an entry's head: its headers are
// rarely longer.
const maxDeadHead = 4 << 10

// readDeadMeta reads the head of ev's entry from the log, for a dead letter
// replayed at open (Dead notes the metadata it is given). A head that cannot
// be read leaves the dead letter nameless but listed.
func readDeadMeta(ev *logEvent) *deadMeta {
	for n := min(ev.entrySize, maxDeadHead); ; n = min(2*n, ev.entrySize) {
		buf := make([]byte, n)
		if _, err := ev.seg.f.ReadAt(buf, ev.entryOff); err != nil {
			return &deadMeta{}
		}
		if m, ok := decodeDeadMeta(buf); ok || n == ev.entrySize {
			return m
		}
	}
}

// decodeDeadMeta reads an entry's id, provider and body size (codec.go's
// encoding) from its first bytes; ok is false when they are not all there.
func decodeDeadMeta(b []byte) (*deadMeta, bool) {
	dec := &decoder{b: b}
	m := &deadMeta{id: dec.string(), provider: dec.string()}
	dec.bytes() // last error
	dec.skipToBody()
	m.bodySize = int(dec.uvarint())
	if dec.err != nil {
		return &deadMeta{}, false
	}
	return m, true
}

func deadLetterOf(e *logEntry) DeadLetter {
	d := DeadLetter{
		Entry: strconv.FormatUint(e.ev.id, 10), ID: e.ev.meta.id, Provider: e.ev.meta.provider,
		Destination: e.dest.name, Attempts: e.attempts, LastError: e.lastErr,
		BodySize: e.ev.meta.bodySize, ReceivedAt: time.Unix(0, e.ev.received),
	}
	if e.due != 0 {
		d.DiedAt = time.Unix(0, e.due)
	}
	return d
}

// DeadLetters lists a page from memory.
func (s *Log) DeadLetters(_ context.Context, destination, after string, limit int) ([]DeadLetter, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var from uint64
	if after != "" {
		n, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrNoEntry, after)
		}
		from = n + 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	if d := s.dests[destination]; d != nil && limit > 0 {
		d.dead.AscendGreaterOrEqual(&logEntry{ev: &logEvent{id: from}}, func(e *logEntry) bool {
			out = append(out, deadLetterOf(e))
			return len(out) < limit
		})
	}
	return out, nil
}

// resolveDead returns up to limit dead entries that ids name (see
// Queue.FindDead), under mu.
func (s *Log) resolveDead(destination string, ids []string, limit int) []*logEntry {
	d := s.dests[destination]
	if d == nil {
		return nil
	}
	var out []*logEntry
	seen := make(map[*logEntry]bool)
	add := func(e *logEntry) bool {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
		return len(out) < limit
	}
	for _, id := range ids {
		found := false
		pivot := &logEntry{ev: &logEvent{meta: &deadMeta{id: id}}}
		d.deadByID.AscendGreaterOrEqual(pivot, func(e *logEntry) bool {
			if e.ev.meta.id != id {
				return false
			}
			found = true
			return add(e)
		})
		if n, err := strconv.ParseUint(id, 10, 64); !found && err == nil {
			if e := s.lookup(destination, n); e != nil && e.state == stateDead {
				add(e)
			}
		}
		if len(out) >= limit {
			break
		}
	}
	return out
}

// FindDead looks ids up in memory.
func (s *Log) FindDead(_ context.Context, destination string, ids []string, limit int) ([]DeadLetter, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	for _, e := range s.resolveDead(destination, ids, limit) {
		out = append(out, deadLetterOf(e))
	}
	return out, nil
}

// ReadDead reads one dead letter's event from the log.
func (s *Log) ReadDead(_ context.Context, destination, entry string) (*DeadLetter, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	id, err := strconv.ParseUint(entry, 10, 64)
	if err != nil {
		return nil, nil
	}
	s.mu.Lock()
	e := s.lookup(destination, id)
	if e == nil || e.state != stateDead {
		s.mu.Unlock()
		return nil, nil
	}
	dl := deadLetterOf(e)
	read, err := s.read([]entryRef{refOf(e, entry)}) // unlocks mu
	if err != nil {
		return nil, err
	}
	dl.Header, dl.Body = read[0].Header, read[0].Body
	return &dl, nil
}

// Redrive puts dead letters back in the queue with their attempts reset and
// added to their earlier ones; all of them when ids is empty.
func (s *Log) Redrive(_ context.Context, destination string, ids []string) (int, error) {
	moved := 0
	err := s.submit(func(b []byte) []byte {
		moved = 0
		redrive := func(e *logEntry) bool {
			b = appendStateRecord(b, e.ev.id, entryState{dest: destination, state: stateReady, earlier: e.earlier + e.attempts, lastErr: e.lastErr})
			moved++
			return true
		}
		if d := s.dests[destination]; d != nil && len(ids) == 0 {
			d.dead.Ascend(redrive)
			return b
		}
		for _, e := range s.resolveDead(destination, ids, s.deadCount(destination)) {
			redrive(e)
		}
		return b
	})
	return moved, err
}

// DeleteDead drops the dead letters ids name.
func (s *Log) DeleteDead(_ context.Context, destination string, ids []string) (int, error) {
	deleted := 0
	err := s.submit(func(b []byte) []byte {
		deleted = 0
		for _, e := range s.resolveDead(destination, ids, s.deadCount(destination)) {
			b = appendStateRecord(b, e.ev.id, entryState{dest: destination, state: stateGone})
			deleted++
		}
		return b
	})
	return deleted, err
}

// deadCount is how many dead letters destination has, under mu.
func (s *Log) deadCount(destination string) int {
	if d := s.dests[destination]; d != nil {
		return d.dead.Len()
	}
	return 0
}
