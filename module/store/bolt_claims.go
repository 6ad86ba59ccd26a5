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

// Claim checks the in-memory claims and the committed records on disk and
// takes the claim in memory; no write. The disk is read outside claimsMu:
// a Commit writes the disk first and then drops the in-memory claim, so a
// committed key is visible in one place or the other unless a commit ended
// during the read, which the commits counter reveals; the read is then
// repeated under the lock.
func (s *Bolt) Claim(_ context.Context, c Claim) (Outcome, error) {
	nonce, key := c.keys()
	if nonce == "" && key == "" {
		return Claimed, nil
	}
	now := time.Now()
	before := s.commits.Load()
	var disk onDisk
	if err := s.view(func(tx *bbolt.Tx) error { disk = readClaim(tx, nonce, key, now); return nil }); err != nil {
		return Claimed, err
	}
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	if s.commits.Load() != before {
		if err := s.view(func(tx *bbolt.Tx) error { disk = readClaim(tx, nonce, key, now); return nil }); err != nil {
			return Claimed, err
		}
	}
	switch {
	case nonce != "" && (disk.nonce || s.inflight[nonce].After(now)):
		return Replayed, nil
	case key != "" && s.inflight[key].After(now):
		return InProgress, nil
	case disk.key:
		return Duplicate, nil
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

// onDisk tells which of a claim's keys are committed and unexpired.
type onDisk struct{ nonce, key bool }

func readClaim(tx *bbolt.Tx, nonce, key string, now time.Time) onDisk {
	b := tx.Bucket(claimsBucket)
	return onDisk{nonce: nonce != "" && committed(b, nonce, now), key: key != "" && committed(b, key, now)}
}

func committed(b *bbolt.Bucket, key string, now time.Time) bool {
	exp := b.Get([]byte(key))
	return len(exp) == 8 && readTime(exp).After(now)
}

// Commit writes the claim's keys durably, then drops the in-memory claim.
func (s *Bolt) Commit(_ context.Context, c Claim) error {
	records := c.records(time.Now())
	if len(records) == 0 {
		return nil
	}
	if err := s.writeWith(records, nil); err != nil {
		return err
	}
	s.dropCommitted(c)
	return nil
}

// Release drops the in-memory claim; committed keys stay.
func (s *Bolt) Release(_ context.Context, c Claim) error {
	nonce, key := c.keys()
	s.claimsMu.Lock()
	delete(s.inflight, nonce)
	delete(s.inflight, key)
	s.claimsMu.Unlock()
	return nil
}

// dropCommitted drops the in-memory claim of c, now on disk, and counts the
// commit for Claim's unlocked read.
func (s *Bolt) dropCommitted(c Claim) {
	nonce, key := c.keys()
	if nonce == "" && key == "" {
		return
	}
	s.claimsMu.Lock()
	delete(s.inflight, nonce)
	delete(s.inflight, key)
	s.commits.Add(1)
	s.claimsMu.Unlock()
}
