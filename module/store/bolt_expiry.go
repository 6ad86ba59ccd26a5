package store

import (
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"
)

// The sweeper finds expired claim records through the sweep bucket. One
// entry serves every record of a group commit that expires in the same
// second: its key is the latest expiry among them plus a sequence number,
// its value their length-prefixed claim keys. A group of claims with the
// same TTLs thus adds two index entries, appended at the end of the tree,
// instead of one random insert per record.

// record is a committed nonce or dedup key and when it expires.
type record struct {
	key string
	exp time.Time
}

// records lists what committing c at now writes.
func (c Claim) records(now time.Time) []record {
	nonce, key := c.keys()
	var rs []record
	if nonce != "" {
		rs = append(rs, record{nonce, now.Add(c.NonceTTL)})
	}
	if key != "" {
		rs = append(rs, record{key, now.Add(c.Window)})
	}
	return rs
}

// expirySlot gathers the records of one transaction that expire in the same
// second.
type expirySlot struct {
	latest time.Time
	keys   []byte // length-prefixed claim keys
}

type expiryIndex map[int64]*expirySlot // by expiry in unix seconds

func (ix expiryIndex) add(key []byte, exp time.Time) {
	second := exp.Unix()
	slot := ix[second]
	if slot == nil {
		slot = &expirySlot{}
		ix[second] = slot
	}
	if exp.After(slot.latest) {
		slot.latest = exp
	}
	slot.keys = appendString(slot.keys, string(key))
}

// put writes the claim records and indexes them.
func (ix expiryIndex) put(claims *bbolt.Bucket, rs []record) error {
	for _, r := range rs {
		if err := claims.Put([]byte(r.key), appendTime(nil, r.exp)); err != nil {
			return err
		}
		ix.add([]byte(r.key), r.exp)
	}
	return nil
}

// flush appends one sweep entry per slot.
func (ix expiryIndex) flush(tx *bbolt.Tx) error {
	idx := tx.Bucket(sweepBucket)
	idx.FillPercent = 1 // keys only ever grow: full pages, fewer of them
	for _, slot := range ix {
		seq, err := idx.NextSequence()
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(appendTime(nil, slot.latest), seq)
		if err := idx.Put(k, slot.keys); err != nil {
			return err
		}
	}
	return nil
}

// migrateExpiry re-indexes a file written before the sweep bucket existed,
// whose "expiry" bucket held one entry per record (expiry + claim key).
func migrateExpiry(tx *bbolt.Tx) error {
	old := tx.Bucket(legacyExpiryBucket)
	if old == nil {
		return nil
	}
	ix := expiryIndex{}
	err := old.ForEach(func(k, _ []byte) error {
		if len(k) > 8 {
			ix.add(k[8:], readTime(k[:8]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := ix.flush(tx); err != nil {
		return err
	}
	return tx.DeleteBucket(legacyExpiryBucket)
}

// sweep removes claim records expired at now, in bounded transactions, and
// the in-memory claims whose lease ended.
func (s *Bolt) sweep(now time.Time) error {
	s.claimsMu.Lock()
	for k, until := range s.inflight {
		if !until.After(now) {
			delete(s.inflight, k)
		}
	}
	s.claimsMu.Unlock()
	limit := appendTime(nil, now)
	for {
		n := 0
		err := s.db.Update(func(tx *bbolt.Tx) error {
			claims := tx.Bucket(claimsBucket)
			c := tx.Bucket(sweepBucket).Cursor()
			for k, v := c.First(); k != nil && n < sweepBatch && string(k[:8]) <= string(limit); k, v = c.First() {
				dec := &decoder{b: v}
				for len(dec.b) > 0 && dec.err == nil {
					key := dec.bytes()
					// The key may have been committed again with a later expiry.
					if exp := claims.Get(key); exp != nil && string(exp) <= string(limit) {
						if err := claims.Delete(key); err != nil {
							return err
						}
					}
					n++
				}
				if err := c.Delete(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < sweepBatch {
			return nil
		}
	}
}
