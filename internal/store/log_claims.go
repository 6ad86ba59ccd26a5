package store

import (
	"context"
	"hash/maphash"
	"time"
)

// Claims are kept in memory, one entry per key, by a 64-bit hash of scope
// and key (whatever the key's length); two keys would have to collide
// among billions for a false duplicate. The keys themselves are on disk,
// for compaction. An entry is in flight (taken by Claim, in memory only,
// until its lease ends) or committed (its record durable or in the page
// cache, see Log, until its TTL ends). Both hold a digest of the claim's
// Nonce, and so does the record on disk: the same signed request again is
// told from the sender's retry after a restart too.

// claimRec is one key's claim, 24 bytes.
type claimRec struct {
	exp int64 // unix ns: the lease's end in flight, the TTL's once committed
	// seg holds the committed claim's record, whose size is counted in
	// seg's live bytes; nil while the claim is in flight.
	seg   *segment
	size  uint32
	nonce uint32 // nonceDigest of the claim's Nonce
}

func (rec claimRec) inFlight() bool { return rec.seg == nil }

// nonceDigest is a short digest of a Nonce (FNV-1a), stable across
// processes since it is written to disk; 0 only for "". A collision of two
// nonces of one key can only take a sender's retry for a replay (409,
// which it retries again), never pass an event twice.
func nonceDigest(nonce string) uint32 {
	if nonce == "" {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(nonce); i++ {
		h = (h ^ uint32(nonce[i])) * 16777619
	}
	return max(h, 1)
}

// claimHash is the map key of c: the hash of its record's key bytes
// (appendClaimRecord), computed without building them.
func (s *Log) claimHash(c Claim) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(c.Scope)
	h.WriteByte(0)
	h.WriteString(c.Key)
	return h.Sum64()
}

// Claim takes the key in memory, in flight for the lease; no write.
func (s *Log) Claim(_ context.Context, c Claim) (Outcome, error) {
	if c.Key == "" {
		return Claimed, nil
	}
	h, nonce := s.claimHash(c), nonceDigest(c.Nonce)
	now := time.Now().UnixNano()
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if s.closed.Load() {
		return 0, errClosed
	}
	rec := s.claims[h]
	if rec.exp > now {
		switch {
		case nonce != 0 && rec.nonce == nonce:
			return Replayed, nil
		case rec.inFlight():
			return InProgress, nil
		}
		return Duplicate, nil
	}
	if rec.seg != nil {
		rec.seg.live.Add(-int64(rec.size)) // expired, not yet swept
	}
	s.claims[h] = claimRec{exp: now + int64(c.Lease), nonce: nonce}
	return Claimed, nil
}

// Commit writes the claim's record (lazily: see Log); applied, it turns
// the entry committed.
func (s *Log) Commit(_ context.Context, c Claim) error {
	if c.Key == "" {
		return nil
	}
	now := time.Now()
	return s.submitLazy(func(b []byte) []byte { return c.appendRecord(b, now) })
}

// appendRecord appends the record that commits c at now, if c has a Key.
func (c Claim) appendRecord(b []byte, now time.Time) []byte {
	if c.Key == "" {
		return b
	}
	return appendClaimRecord(b, now.Add(c.TTL).UnixNano(), nonceDigest(c.Nonce), c.Scope, c.Key)
}

// Release drops the claim if it is in flight with c's Nonce; a committed
// one stays.
func (s *Log) Release(_ context.Context, c Claim) error {
	if c.Key == "" {
		return nil
	}
	h, nonce := s.claimHash(c), nonceDigest(c.Nonce)
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if rec, ok := s.claims[h]; ok && rec.inFlight() && rec.nonce == nonce {
		delete(s.claims, h)
	}
	return nil
}

// ClaimEnqueue is Claim (in memory), then Enqueue, which writes the
// claim's record with the event in one frame.
func (s *Log) ClaimEnqueue(ctx context.Context, c Claim, destinations []string, ev Event) (Outcome, error) {
	return claimThenEnqueue(ctx, s, c, destinations, ev)
}

// forgetClaim drops an entry and its record's live bytes; under claimsMu.
func (s *Log) forgetClaim(h uint64, rec claimRec) {
	if rec.seg != nil {
		rec.seg.live.Add(-int64(rec.size))
	}
	delete(s.claims, h)
}

// sweep drops expired claims, committed or in flight.
func (s *Log) sweep(now int64) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	for h, rec := range s.claims {
		if rec.exp <= now {
			s.forgetClaim(h, rec)
		}
	}
}
