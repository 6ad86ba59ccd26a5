package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Bolt is the embedded store: one bbolt file holds committed nonces and
// dedup keys and the queue, so a restart neither loses a queued event nor
// reopens a dedup window. Uncommitted claims and queue leases live in memory
// only: after a crash the sender got no 2xx and retries, and every entry not
// acknowledged is fetchable again.
type Bolt struct {
	db *bbolt.DB

	// closeMu orders write() against Close so that no write is submitted
	// after the writer stopped.
	closeMu sync.RWMutex
	closed  bool
	writes  chan *writeOp
	stop    chan struct{}
	wg      sync.WaitGroup

	claimsMu sync.Mutex
	inflight map[string]time.Time // claim key -> end of its lease
	commits  atomic.Uint64        // claims moved from inflight to disk

	leasesMu sync.Mutex
	leases   map[string]*destLeases // by destination
}

var _ Store = (*Bolt)(nil)

var (
	claimsBucket = []byte("claims") // claim key -> expiry (8 bytes, unix ns)
	sweepBucket  = []byte("sweep")  // expiry + sequence -> claim keys (bolt_expiry.go)
	queuesBucket = []byte("queues") // destination -> ready, retry, dead buckets
	// legacyExpiryBucket is the index of files written before "sweep".
	legacyExpiryBucket = []byte("expiry")
)

const (
	// maxGroup bounds one group commit; more requests wait for the next.
	maxGroup      = 512
	sweepInterval = time.Minute
	sweepBatch    = 1000
)

var errClosed = fmt.Errorf("%w: embedded store is closed", ErrUnavailable)

// OpenBolt opens (or creates, with its directory) the store at path.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the store's directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		// Fail instead of hanging when another process holds the file.
		Timeout: 5 * time.Second,
		// The freelist is rebuilt at open instead of written at every commit.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		// Map 256 MB up front: growing the file past the mapping remaps it,
		// which waits for every read transaction and blocks new ones, Claim
		// and Fetch included. The file itself still grows as needed.
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{claimsBucket, sweepBucket, queuesBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return migrateExpiry(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising %s: %w", path, err)
	}
	s := &Bolt{
		db:       db,
		writes:   make(chan *writeOp, maxGroup),
		stop:     make(chan struct{}),
		inflight: make(map[string]time.Time),
		leases:   make(map[string]*destLeases),
	}
	s.wg.Add(2)
	go s.writer()
	go s.sweeper()
	return s, nil
}

// Ping reports whether the store is open.
func (s *Bolt) Ping(context.Context) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close finishes the pending writes and closes the file. It is idempotent.
func (s *Bolt) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.writes)
	close(s.stop)
	s.closeMu.Unlock()
	s.wg.Wait()
	return s.db.Close()
}

type writeOp struct {
	records []record              // claim records to write and index
	fn      func(*bbolt.Tx) error // nil when there are only records
	done    chan error
}

// write runs fn in a durable transaction shared with every other write that
// arrived meanwhile (group commit): one fsync serves them all. bbolt's Batch
// would wait MaxBatchDelay before each group and queue small groups behind
// one another; here the next group is simply whatever arrived during the
// current fsync. fn may run twice (see commit) and must not keep state.
func (s *Bolt) write(fn func(*bbolt.Tx) error) error {
	return s.writeWith(nil, fn)
}

// writeWith also writes claim records, indexed for the sweeper together
// with the rest of the group's.
func (s *Bolt) writeWith(records []record, fn func(*bbolt.Tx) error) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return errClosed
	}
	op := &writeOp{records: records, fn: fn, done: make(chan error, 1)}
	s.writes <- op
	s.closeMu.RUnlock()
	if err := <-op.done; err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

func (s *Bolt) writer() {
	defer s.wg.Done()
	group := make([]*writeOp, 0, maxGroup)
	for op := range s.writes {
		group = append(group[:0], op)
	gather:
		for len(group) < maxGroup {
			select {
			case op, ok := <-s.writes:
				if !ok {
					break gather
				}
				group = append(group, op)
			default:
				break gather
			}
		}
		s.commit(group)
	}
}

// commit runs a group in one transaction. When one write fails the
// transaction is rolled back and each write is run alone, so that one bad
// write does not fail the others.
func (s *Bolt) commit(group []*writeOp) {
	err := s.db.Update(func(tx *bbolt.Tx) error { return apply(tx, group) })
	if err == nil || len(group) == 1 {
		for _, op := range group {
			op.done <- err
		}
		return
	}
	for i, op := range group {
		op.done <- s.db.Update(func(tx *bbolt.Tx) error { return apply(tx, group[i:i+1]) })
	}
}

func apply(tx *bbolt.Tx, ops []*writeOp) error {
	claims, ix := tx.Bucket(claimsBucket), expiryIndex{}
	for _, op := range ops {
		if err := ix.put(claims, op.records); err != nil {
			return err
		}
		if op.fn == nil {
			continue
		}
		if err := op.fn(tx); err != nil {
			return err
		}
	}
	return ix.flush(tx)
}

// sweeper deletes expired claim keys; until then reads treat them as absent.
func (s *Bolt) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			_ = s.sweep(now) // a failed sweep is retried at the next tick
		}
	}
}

// view runs a read transaction, refused after Close.
func (s *Bolt) view(fn func(*bbolt.Tx) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return errClosed
	}
	if err := s.db.View(fn); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}
