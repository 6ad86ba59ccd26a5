package store

import (
	"context"
	"hash/maphash"
	"time"
)

// Committed claims are kept in memory by a 64-bit hash of their key (16
// bytes of map entry per key whatever its length); two keys would have to
// collide among billions for a false duplicate. The keys themselves are on
// disk, for compaction.

// claimRec is a committed nonce or dedup key.
type claimRec struct {
	exp  int64 // unix ns
	seg  *segment
	size uint32 // of its record, for seg's live bytes
}

// claimKey names a nonce ('n') or dedup key ('d') of a scope.
func claimKey(kind byte, scope, value string) string {
	return string(kind) + scope + "\x00" + value
}

func (c Claim) keys() (nonce, key string) {
	if c.Nonce != "" {
		nonce = claimKey('n', c.Scope, c.Nonce)
	}
	if c.Key != "" {
		key = claimKey('d', c.Scope, c.Key)
	}
	return nonce, key
}

// claimRecords appends the records that committing c at now writes.
func (c Claim) claimRecords(b []byte, now time.Time) []byte {
	nonce, key := c.keys()
	if nonce != "" {
		b = appendClaimRecord(b, nonce, now.Add(c.NonceTTL).UnixNano())
	}
	if key != "" {
		b = appendClaimRecord(b, key, now.Add(c.Window).UnixNano())
	}
	return b
}

func (s *Log) hash(key string) uint64 {
	if key == "" {
		return 0
	}
	return maphash.String(s.seed, key)
}

// Claim checks the committed and in-flight claims and takes the claim in
// memory; no write.
func (s *Log) Claim(_ context.Context, c Claim) (Outcome, error) {
	nonce, key := c.keys()
	if nonce == "" && key == "" {
		return Claimed, nil
	}
	hn, hk := s.hash(nonce), s.hash(key)
	now := time.Now().UnixNano()
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	switch {
	case s.closed.Load():
		return Claimed, errClosed
	case nonce != "" && (s.claims[hn].exp > now || s.inflight[hn] > now):
		return Replayed, nil
	case key != "" && s.inflight[hk] > now:
		return InProgress, nil
	case key != "" && s.claims[hk].exp > now:
		return Duplicate, nil
	}
	if nonce != "" {
		// Held for the nonce's whole life, like the Redis store.
		s.inflight[hn] = now + int64(max(c.Lease, c.NonceTTL))
	}
	if key != "" {
		s.inflight[hk] = now + int64(c.Lease)
	}
	return Claimed, nil
}

// Commit writes the claim's keys (lazily: see Log), then drops the
// in-memory claim.
func (s *Log) Commit(ctx context.Context, c Claim) error {
	if c.Nonce == "" && c.Key == "" {
		return nil
	}
	records := c.claimRecords(nil, time.Now())
	err := s.submitLazy(func(b []byte) []byte { return append(b, records...) })
	if err != nil {
		return err
	}
	return s.Release(ctx, c)
}

// Release drops the in-memory claim; committed keys stay.
func (s *Log) Release(_ context.Context, c Claim) error {
	nonce, key := c.keys()
	s.claimsMu.Lock()
	delete(s.inflight, s.hash(nonce))
	delete(s.inflight, s.hash(key))
	s.claimsMu.Unlock()
	return nil
}

// sweep drops expired claims, committed or in flight.
func (s *Log) sweep(now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	for h, until := range s.inflight {
		if until <= now {
			delete(s.inflight, h)
		}
	}
	for h, rec := range s.claims {
		if rec.exp <= now {
			rec.seg.live -= int64(rec.size)
			delete(s.claims, h)
		}
	}
}
