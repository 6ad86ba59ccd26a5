package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Each destination has a bucket under "queues" holding:
//   ready  sequence -> entry, in arrival order
//   retry  due time + sequence -> entry, so due ones come first
//   dead   sequence -> entry
// A Delivery's Handle is the bucket's letter (q, r, d) and the hex key.
// Leases are kept in memory: after a restart every entry is fetchable again.

var (
	readyBucket = []byte("ready")
	retryBucket = []byte("retry")
	deadBucket  = []byte("dead")
)

const (
	kindReady = 'q'
	kindRetry = 'r'
	kindDead  = 'd'
)

var errHandle = errors.New("embedded store: invalid delivery handle")

type destLeases struct {
	mu    sync.Mutex
	until map[string]time.Time // handle -> end of lease
	// readyFrom is where Fetch resumes in the ready bucket: every entry
	// before it was leased when last seen. It is reset once a lease may have
	// lapsed (at lapseAt, the earliest end of a ready lease), so that the
	// entries of a dead consumer are fetched again.
	readyFrom []byte
	lapseAt   time.Time
}

// resumeReady returns where to start the ready scan at now.
func (l *destLeases) resumeReady(now time.Time) []byte {
	if l.readyFrom == nil || now.Before(l.lapseAt) {
		return l.readyFrom
	}
	l.readyFrom, l.lapseAt = nil, time.Time{}
	for h, until := range l.until {
		if h[0] == kindReady && until.After(now) && (l.lapseAt.IsZero() || until.Before(l.lapseAt)) {
			l.lapseAt = until
		}
	}
	return nil
}

func (s *Bolt) leasesOf(destination string) *destLeases {
	s.leasesMu.Lock()
	defer s.leasesMu.Unlock()
	l := s.leases[destination]
	if l == nil {
		l = &destLeases{until: make(map[string]time.Time)}
		s.leases[destination] = l
	}
	return l
}

func (l *destLeases) drop(handle string) {
	l.mu.Lock()
	delete(l.until, handle)
	l.mu.Unlock()
}

type destQueue struct{ root, ready, retry, dead *bbolt.Bucket }

// queueOf returns the destination's buckets; nil when they do not exist
// and create is false.
func queueOf(tx *bbolt.Tx, destination string, create bool) (*destQueue, error) {
	queues := tx.Bucket(queuesBucket)
	if !create {
		root := queues.Bucket([]byte(destination))
		if root == nil {
			return nil, nil
		}
		return &destQueue{root, root.Bucket(readyBucket), root.Bucket(retryBucket), root.Bucket(deadBucket)}, nil
	}
	root, err := queues.CreateBucketIfNotExists([]byte(destination))
	if err != nil {
		return nil, err
	}
	q := &destQueue{root: root}
	for _, sub := range []struct {
		name []byte
		b    **bbolt.Bucket
	}{{readyBucket, &q.ready}, {retryBucket, &q.retry}, {deadBucket, &q.dead}} {
		if *sub.b, err = root.CreateBucketIfNotExists(sub.name); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *destQueue) bucket(kind byte) *bbolt.Bucket {
	switch kind {
	case kindReady:
		return q.ready
	case kindRetry:
		return q.retry
	case kindDead:
		return q.dead
	}
	return nil
}

func (q *destQueue) nextKey() ([]byte, error) {
	seq, err := q.root.NextSequence()
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(nil, seq), nil
}

func handleOf(kind byte, key []byte) string { return string(kind) + hex.EncodeToString(key) }

func parseHandle(h string, kinds ...byte) (byte, []byte, error) {
	if h == "" {
		return 0, nil, errHandle
	}
	key, err := hex.DecodeString(h[1:])
	if err != nil || len(key) < 8 {
		return 0, nil, errHandle
	}
	for _, k := range kinds {
		if h[0] == k {
			return k, key, nil
		}
	}
	return 0, nil, errHandle
}

// Enqueue appends ev to every destination and commits c in one durable
// transaction (shared with concurrent writes).
func (s *Bolt) Enqueue(_ context.Context, c Claim, destinations []string, ev Event) error {
	entry := encodeEntry(ev, 0, "")
	err := s.writeWith(c.records(time.Now()), func(tx *bbolt.Tx) error {
		for _, d := range destinations {
			q, err := queueOf(tx, d, true)
			if err != nil {
				return err
			}
			key, err := q.nextKey()
			if err != nil {
				return err
			}
			if err := q.ready.Put(key, entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.dropCommitted(c)
	return nil
}

// Fetch leases up to max entries: due retries first, then ready ones in
// arrival order. It reads with a cursor, so only max entries (plus the
// leased retries it skips) are visited: the ready scan resumes after the
// entries leased by earlier calls.
func (s *Bolt) Fetch(_ context.Context, destination, _ string, max int, lease time.Duration) ([]Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	l := s.leasesOf(destination)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var out []Delivery
	readyFrom := l.resumeReady(now)
	collect := func(b *bbolt.Bucket, kind byte, from []byte) error {
		c := b.Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		var last []byte
		defer func() {
			if kind == kindReady && last != nil {
				readyFrom = append([]byte(nil), last...)
			}
		}()
		for ; k != nil && len(out) < max; k, v = c.Next() {
			if kind == kindRetry && readTime(k[:8]).After(now) {
				return nil
			}
			last = k
			h := handleOf(kind, k)
			if l.until[h].After(now) {
				continue
			}
			d := Delivery{Destination: destination, Handle: h}
			if err := decodeEntry(v, &d); err != nil {
				return fmt.Errorf("%s: %w", h, err)
			}
			out = append(out, d)
		}
		return nil
	}
	err := s.view(func(tx *bbolt.Tx) error {
		q, _ := queueOf(tx, destination, false)
		if q == nil {
			return nil
		}
		if err := collect(q.retry, kindRetry, nil); err != nil {
			return err
		}
		return collect(q.ready, kindReady, readyFrom)
	})
	if err != nil {
		return nil, err
	}
	until := now.Add(lease)
	for _, d := range out {
		l.until[d.Handle] = until
		if d.Handle[0] == kindReady && (l.lapseAt.IsZero() || until.Before(l.lapseAt)) {
			l.lapseAt = until
		}
	}
	l.readyFrom = readyFrom
	return out, nil
}

// Ack deletes the entry.
func (s *Bolt) Ack(_ context.Context, d Delivery) error {
	kind, key, err := parseHandle(d.Handle, kindReady, kindRetry)
	if err != nil {
		return err
	}
	err = s.write(func(tx *bbolt.Tx) error {
		q, _ := queueOf(tx, d.Destination, false)
		if q == nil {
			return nil
		}
		return q.bucket(kind).Delete(key)
	})
	if err != nil {
		return err
	}
	s.leasesOf(d.Destination).drop(d.Handle)
	return nil
}

// Retry moves the entry to the retry bucket under its due time.
func (s *Bolt) Retry(_ context.Context, d Delivery, at time.Time) error {
	return s.move(d, kindRetry, at)
}

// Dead moves the entry to the dead-letter bucket.
func (s *Bolt) Dead(_ context.Context, d Delivery) error {
	return s.move(d, kindDead, time.Time{})
}

// move re-files a leased entry with d's attempts and last error; it does
// nothing when the entry was acknowledged meanwhile.
func (s *Bolt) move(d Delivery, to byte, due time.Time) error {
	kind, key, err := parseHandle(d.Handle, kindReady, kindRetry)
	if err != nil {
		return err
	}
	entry := encodeEntry(d.Event, d.Attempts, d.LastError)
	err = s.write(func(tx *bbolt.Tx) error {
		q, _ := queueOf(tx, d.Destination, false)
		if q == nil || q.bucket(kind).Get(key) == nil {
			return nil
		}
		if err := q.bucket(kind).Delete(key); err != nil {
			return err
		}
		newKey, err := q.nextKey()
		if err != nil {
			return err
		}
		if to == kindRetry {
			newKey = append(appendTime(nil, due), newKey...)
		}
		return q.bucket(to).Put(newKey, entry)
	})
	if err != nil {
		return err
	}
	s.leasesOf(d.Destination).drop(d.Handle)
	return nil
}

// Stats counts the destination's entries; leased ones are in flight.
func (s *Bolt) Stats(_ context.Context, destination string) (QueueStats, error) {
	st := QueueStats{Destination: destination}
	now := time.Now()
	var leasedReady, leasedRetry int64
	l := s.leasesOf(destination)
	l.mu.Lock()
	for h, until := range l.until {
		if until.After(now) {
			if h[0] == kindReady {
				leasedReady++
			} else {
				leasedRetry++
			}
		}
	}
	l.mu.Unlock()
	err := s.view(func(tx *bbolt.Tx) error {
		q, _ := queueOf(tx, destination, false)
		if q == nil {
			return nil
		}
		st.Queued = int64(q.ready.Stats().KeyN) - leasedReady
		st.Retrying = int64(q.retry.Stats().KeyN) - leasedRetry
		st.InFlight = leasedReady + leasedRetry
		st.Dead = int64(q.dead.Stats().KeyN)
		// The head of ready is the oldest arrival; the first retry (the
		// earliest due) stands for the retrying ones.
		for _, b := range []*bbolt.Bucket{q.ready, q.retry} {
			if _, v := b.Cursor().First(); v != nil {
				var d Delivery
				if decodeEntry(v, &d) == nil {
					st.OldestAgeSeconds = max(st.OldestAgeSeconds, now.Sub(d.ReceivedAt).Seconds())
				}
			}
		}
		return nil
	})
	// A lease is dropped just after its entry's write, so for a moment it
	// may be counted while its entry is already gone.
	st.Queued, st.Retrying = max(st.Queued, 0), max(st.Retrying, 0)
	return st, err
}

// DeadLetters lists the oldest dead letters; their Handle is the id that
// Redrive and DeleteDead take.
func (s *Bolt) DeadLetters(_ context.Context, destination string, limit int) ([]Delivery, error) {
	var out []Delivery
	err := s.view(func(tx *bbolt.Tx) error {
		q, _ := queueOf(tx, destination, false)
		if q == nil {
			return nil
		}
		c := q.dead.Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			d := Delivery{Destination: destination, Handle: handleOf(kindDead, k)}
			if err := decodeEntry(v, &d); err != nil {
				return fmt.Errorf("%s: %w", d.Handle, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Redrive moves dead letters back to the ready queue with their attempts
// reset; all of them, in bounded transactions, when ids is empty.
func (s *Bolt) Redrive(_ context.Context, destination string, ids []string) (int, error) {
	if len(ids) > 0 {
		keys := make([][]byte, 0, len(ids))
		for _, id := range ids {
			if _, key, err := parseHandle(id, kindDead); err == nil {
				keys = append(keys, key)
			}
		}
		return s.redrive(destination, func(*bbolt.Bucket) [][]byte { return keys })
	}
	total := 0
	for {
		n, err := s.redrive(destination, func(dead *bbolt.Bucket) [][]byte {
			var keys [][]byte
			c := dead.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < redriveBatch; k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			return keys
		})
		total += n
		if err != nil || n < redriveBatch {
			return total, err
		}
	}
}

func (s *Bolt) redrive(destination string, pick func(dead *bbolt.Bucket) [][]byte) (int, error) {
	moved := 0
	err := s.write(func(tx *bbolt.Tx) error {
		moved = 0
		q, _ := queueOf(tx, destination, false)
		if q == nil {
			return nil
		}
		for _, key := range pick(q.dead) {
			v := q.dead.Get(key)
			if v == nil {
				continue
			}
			var d Delivery
			if err := decodeEntry(v, &d); err != nil {
				return err
			}
			newKey, err := q.nextKey()
			if err != nil {
				return err
			}
			if err := q.ready.Put(newKey, encodeEntry(d.Event, 0, d.LastError)); err != nil {
				return err
			}
			if err := q.dead.Delete(key); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	return moved, err
}

// DeleteDead drops one dead letter by its Handle.
func (s *Bolt) DeleteDead(_ context.Context, destination, id string) (bool, error) {
	_, key, err := parseHandle(id, kindDead)
	if err != nil {
		return false, nil
	}
	found := false
	err = s.write(func(tx *bbolt.Tx) error {
		q, _ := queueOf(tx, destination, false)
		found = q != nil && q.dead.Get(key) != nil
		if !found {
			return nil
		}
		return q.dead.Delete(key)
	})
	return found, err
}
