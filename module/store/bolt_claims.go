package store

import (
	"context"
	"time"

	"go.etcd.io/bbolt"
)

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

// Claim checks the in-memory claims and the committed keys on disk and takes
// the claim in memory; no write. claimsMu is held across the disk read so
// that a concurrent Commit (disk first, then memory) is seen in one place or
// the other.
func (s *Bolt) Claim(_ context.Context, c Claim) (Outcome, error) {
	nonce, key := c.keys()
	if nonce == "" && key == "" {
		return Claimed, nil
	}
	now := time.Now()
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if nonce != "" && s.inflight[nonce].After(now) {
		return Replayed, nil
	}
	var outcome = Claimed
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(claimsBucket)
		switch {
		case nonce != "" && committed(b, nonce, now):
			outcome = Replayed
		case key != "" && s.inflight[key].After(now):
			outcome = InProgress
		case key != "" && committed(b, key, now):
			outcome = Duplicate
		}
		return nil
	})
	if err != nil || outcome != Claimed {
		return outcome, err
	}
	if nonce != "" {
		// Held for the nonce's whole life, like the Redis store.
		s.inflight[nonce] = now.Add(max(c.Lease, c.NonceTTL))
	}
	if key != "" {
		s.inflight[key] = now.Add(c.Lease)
	}
	return Claimed, nil
}

func committed(b *bbolt.Bucket, key string, now time.Time) bool {
	exp := b.Get([]byte(key))
	return len(exp) == 8 && readTime(exp).After(now)
}

// Commit writes the claim's keys durably, then drops the in-memory claim.
func (s *Bolt) Commit(_ context.Context, c Claim) error {
	nonce, key := c.keys()
	if nonce == "" && key == "" {
		return nil
	}
	now := time.Now()
	if err := s.write(func(tx *bbolt.Tx) error { return putClaim(tx, c, now) }); err != nil {
		return err
	}
	s.forget(nonce, key)
	return nil
}

// Release drops the in-memory claim; committed keys stay.
func (s *Bolt) Release(_ context.Context, c Claim) error {
	s.forget(c.keys())
	return nil
}

func (s *Bolt) forget(nonce, key string) {
	s.claimsMu.Lock()
	delete(s.inflight, nonce)
	delete(s.inflight, key)
	s.claimsMu.Unlock()
}

// putClaim records the committed nonce and dedup key with their expiry, and
// indexes them by expiry for the sweeper.
func putClaim(tx *bbolt.Tx, c Claim, now time.Time) error {
	nonce, key := c.keys()
	claims, idx := tx.Bucket(claimsBucket), tx.Bucket(expiryBucket)
	for _, k := range []struct {
		name string
		ttl  time.Duration
	}{{nonce, c.NonceTTL}, {key, c.Window}} {
		if k.name == "" {
			continue
		}
		exp := appendTime(nil, now.Add(k.ttl))
		if err := claims.Put([]byte(k.name), exp); err != nil {
			return err
		}
		if err := idx.Put(append(append([]byte(nil), exp...), k.name...), nil); err != nil {
			return err
		}
	}
	return nil
}
