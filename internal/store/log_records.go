package store

import (
	"encoding/binary"
	"hash/maphash"
)

// A record is a type byte, its body's length (4 bytes) and the body:
//   H  next event id                        (first record of every segment)
//   C  expiry (unix ns), nonce digest, scope \0 key   (a committed claim)
//   E  event id, received at, per destination its state, then the event
//      (codec.go's entry encoding, read back when the event is fetched)
//   S  event id, destination, state         (every later change of one)
// A state is ready, retry (with its due time), dead or gone (delivered or
// deleted), with the attempts made so far, those made before the latest
// redrive (only when there are any: format version 2) and the last error. An E record
// copied by compaction carries the states of that moment.

const (
	recHeader = 'H'
	recClaim  = 'C'
	recEvent  = 'E'
	recState  = 'S'

	recordHeader = 5
)

const (
	stateGone byte = iota
	stateReady
	stateRetry
	stateDead

	// stateEarlier marks a state byte followed by earlier attempts.
	stateEarlier byte = 0x80
)

// entryState is one destination's state of an event.
type entryState struct {
	dest     string
	state    byte
	attempts int
	earlier  int // attempts before the latest redrive
	lastErr  string
	due      int64 // retry: unix ns
}

func beginRecord(b []byte, typ byte) ([]byte, int) {
	b = append(b, typ, 0, 0, 0, 0)
	return b, len(b)
}

func endRecord(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start-4:start], uint32(len(b)-start))
	return b
}

func appendHeaderRecord(b []byte, nextID uint64) []byte {
	b, start := beginRecord(b, recHeader)
	return endRecord(binary.AppendUvarint(b, nextID), start)
}

// appendClaimRecord appends a claim's record; its key bytes, scope \0 key,
// are what claimHash hashes (a scope holds no NUL).
func appendClaimRecord(b []byte, exp int64, nonce uint32, scope, key string) []byte {
	b, start := beginRecord(b, recClaim)
	b = binary.AppendVarint(b, exp)
	b = binary.AppendUvarint(b, uint64(nonce))
	b = append(append(append(b, scope...), 0), key...)
	return endRecord(b, start)
}

// claimRecord reads a claim record's body.
func claimRecord(dec *decoder) (exp int64, nonce uint32, key []byte) {
	exp = dec.varint()
	nonce = uint32(dec.uvarint())
	return exp, nonce, dec.b
}

func appendEntryState(b []byte, st entryState) []byte {
	b = appendString(b, st.dest)
	if st.earlier > 0 {
		b = append(b, st.state|stateEarlier)
		b = binary.AppendUvarint(b, uint64(st.attempts))
		b = binary.AppendUvarint(b, uint64(st.earlier))
	} else {
		b = append(b, st.state)
		b = binary.AppendUvarint(b, uint64(st.attempts))
	}
	b = appendString(b, st.lastErr)
	return binary.AppendVarint(b, st.due)
}

func appendEventRecord(b []byte, id uint64, received int64, states []entryState, entry []byte) []byte {
	b, start := beginRecord(b, recEvent)
	b = binary.AppendUvarint(b, id)
	b = binary.AppendVarint(b, received)
	b = binary.AppendUvarint(b, uint64(len(states)))
	for _, st := range states {
		b = appendEntryState(b, st)
	}
	return endRecord(append(b, entry...), start)
}

func appendStateRecord(b []byte, id uint64, st entryState) []byte {
	b, start := beginRecord(b, recState)
	b = binary.AppendUvarint(b, id)
	return endRecord(appendEntryState(b, st), start)
}

func (d *decoder) entryState() entryState {
	st := entryState{dest: d.string()}
	if len(d.b) == 0 {
		d.err = errCorrupt
		return st
	}
	st.state, d.b = d.b[0], d.b[1:]
	st.attempts = int(d.uvarint())
	if st.state&stateEarlier != 0 {
		st.state &^= stateEarlier
		st.earlier = int(d.uvarint())
	}
	st.lastErr = d.string()
	st.due = d.varint()
	return st
}

// forEachRecord calls fn with every record of a frame's payload and its
// offset in the segment (payload starts at off).
func forEachRecord(payload []byte, off int64, fn func(typ byte, body []byte, off int64) error) error {
	for len(payload) > 0 {
		if len(payload) < recordHeader {
			return errCorrupt
		}
		n := int(binary.BigEndian.Uint32(payload[1:recordHeader]))
		if n > len(payload)-recordHeader {
			return errCorrupt
		}
		if err := fn(payload[0], payload[recordHeader:recordHeader+n], off); err != nil {
			return err
		}
		payload = payload[recordHeader+n:]
		off += int64(recordHeader + n)
	}
	return nil
}

// replayFrame applies a durable frame's records to memory, under mu; the
// same code serves the open and every group commit.
func (s *Log) replayFrame(seg *segment, off int64, payload []byte, now int64) error {
	return forEachRecord(payload, off, func(typ byte, body []byte, off int64) error {
		size := int64(recordHeader + len(body))
		dec := &decoder{b: body}
		switch typ {
		case recHeader:
			s.nextID = max(s.nextID, dec.uvarint())
		case recClaim:
			exp, nonce, key := claimRecord(dec)
			if dec.err == nil {
				s.replayClaim(seg, size, maphash.Bytes(s.seed, key), exp, nonce, now)
			}
		case recEvent:
			s.replayEvent(seg, off, size, dec)
		case recState:
			id := dec.uvarint()
			st := dec.entryState()
			if dec.err == nil {
				s.replayState(id, st)
			}
		default:
			return errCorrupt
		}
		return dec.err
	})
}

// replayClaim commits a claim: the entry, in flight or not, is replaced.
// A record expired by now is forgotten with the entry it committed, but
// one that is in flight: a compaction's copy of a record that expired
// meanwhile must not drop a new claim of its key.
func (s *Log) replayClaim(seg *segment, size int64, h uint64, exp int64, nonce uint32, now int64) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	old, ok := s.claims[h]
	if exp <= now {
		if ok && !old.inFlight() {
			s.forgetClaim(h, old)
		}
		return
	}
	if ok {
		s.forgetClaim(h, old)
	}
	s.claims[h] = claimRec{exp: exp, seg: seg, size: uint32(size), nonce: nonce}
	seg.live.Add(size)
}

func (s *Log) replayEvent(seg *segment, off, size int64, dec *decoder) {
	id := dec.uvarint()
	received := dec.varint()
	n := dec.uvarint()
	states := make([]entryState, 0, min(n, 16))
	for i := uint64(0); i < n && dec.err == nil; i++ {
		states = append(states, dec.entryState())
	}
	if dec.err != nil {
		return
	}
	entryOff := off + size - int64(len(dec.b))
	if ev := s.events[id]; ev != nil {
		// A copy made by compaction: the same states, in a new place.
		ev.seg.live.Add(-int64(ev.recSize))
		ev.seg, ev.recOff, ev.recSize, ev.entryOff = seg, off, uint32(size), entryOff
		seg.live.Add(size)
		return
	}
	s.nextID = max(s.nextID, id+1)
	ev := &logEvent{id: id, received: received, seg: seg, recOff: off, recSize: uint32(size), entryOff: entryOff, entrySize: uint32(len(dec.b))}
	for _, st := range states {
		if st.state == stateGone {
			continue
		}
		e := &logEntry{ev: ev, dest: s.dest(st.dest), state: st.state, attempts: st.attempts, earlier: st.earlier, lastErr: st.lastErr, due: st.due}
		ev.entries = append(ev.entries, e)
		e.dest.insert(e)
	}
	if len(ev.entries) > 0 {
		s.events[id] = ev
		seg.live.Add(size)
	}
}

func (s *Log) replayState(id uint64, st entryState) {
	ev := s.events[id]
	if ev == nil {
		return
	}
	e := ev.entry(st.dest)
	if e == nil {
		return
	}
	e.dest.remove(e)
	if st.state == stateGone {
		ev.drop(e)
		if len(ev.entries) == 0 {
			delete(s.events, id)
			ev.seg.live.Add(-int64(ev.recSize))
		}
		return
	}
	e.state, e.attempts, e.earlier, e.lastErr, e.due = st.state, st.attempts, st.earlier, st.lastErr, st.due
	e.dest.insert(e)
}
