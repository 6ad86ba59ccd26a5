package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
)

// Log is the embedded store: an append-only log of records in segment
// files under one directory, and in memory the state the log describes
// (committed claims, queued events and their per-destination state), rebuilt
// by replaying the log at open. Writes are group-committed: every write that
// arrived meanwhile goes into one frame, written with one write and one
// fdatasync, and only then applied to memory by the same code that replays
// the log, so memory never holds what the disk does not. Event bodies stay
// on disk and are read back when fetched.
//
// A B-tree store (bbolt) was measured first: its random leaf-page writes and
// two fsyncs per commit took most of the gateway's CPU at a few thousand
// webhooks a second; a log appends sequentially and syncs once.
//
// Uncommitted claims and delivery leases live in memory only: after a crash
// the sender got no 2xx and retries, and every entry not acknowledged is
// fetchable again.
//
// Two writes do not wait for the fdatasync: a synchronous route's dedup
// commit (sent after the answer, it guards against duplicates, never
// against loss) and a delivery's acknowledgement (losing one delivers the
// event again: at least once). They are in the page cache at once, so a
// crash of Caddy keeps them, and on disk within lazySyncInterval, or with
// the next durable write, whichever comes first; only a crash of the
// machine in between forgets them. Their fdatasync was most of the
// synchronous path's cost: commits trickle in one by one after answers,
// so groups were small.
type Log struct {
	dir  string
	opts LogOptions
	lock *flock.Flock
	seed maphash.Seed

	closed atomic.Bool

	// claimsMu guards the claims; when both are taken, mu comes first.
	claimsMu sync.Mutex
	claims   map[uint64]claimRec // in flight or committed, by claimHash

	// mu guards the queue state, the segment list and the segments' live
	// byte counts.
	mu     sync.Mutex
	events map[uint64]*logEvent
	dests  map[string]*logDest
	nextID uint64     // next event id
	segs   []*segment // oldest first; the last one is appended to

	// segMu is held for reading while segment files are read, and for
	// writing while compaction closes and removes one.
	segMu sync.RWMutex

	// Owned by the writer goroutine.
	compacting *segment // sealed segment whose live records are being copied
	compactAt  int64    // next frame of compacting to copy

	// unsynced is set while frames written without fdatasync are pending.
	unsynced atomic.Bool

	closeMu sync.RWMutex // orders submit against Close
	writes  chan *logOp
	stop    chan struct{}
	wg      sync.WaitGroup

	ev eventLog // events_log.go
	// evOpen opens ev on the first event log call (evErr its error):
	// a gateway that keeps no event log pays nothing for files an earlier
	// config left.
	evOpen sync.Once
	evErr  error
}

var (
	_ Store         = (*Log)(nil)
	_ ClaimEnqueuer = (*Log)(nil)
)

// LogOptions tunes the embedded store; zero values take the defaults.
type LogOptions struct {
	// SegmentSize is the size at which a new segment file is started.
	SegmentSize int64
	// SweepInterval is how often expired claims are dropped and
	// compaction is considered.
	SweepInterval time.Duration
	// OnDamage, when set, is told of each damaged stretch of the log that
	// the open skipped and quarantined, and of a torn frame it cut off.
	// It runs within OpenLog.
	OnDamage func(Damage)

	// beforeDelete, for tests, sees each compacted segment before it is
	// deleted.
	beforeDelete func(path string)
	// lazySync, for tests, replaces lazySyncInterval.
	lazySync time.Duration
	// eventSegmentSize, for tests, replaces defaultEventSegmentSize.
	eventSegmentSize int64
}

const (
	defaultSegmentSize = 64 << 20
	// maxGroup bounds one group commit; more writes wait for the next.
	maxGroup = 512
	// compactChunk is how much of a segment being compacted one group
	// commit copies, so that compaction never holds up writes for long.
	compactChunk = 1 << 20
	// lazySyncInterval bounds how long a lazy write stays unsynced.
	lazySyncInterval = time.Second
)

// lockTimeout is how long OpenLog waits for another process (the one a
// restart replaces) to release the directory.
var lockTimeout = 5 * time.Second

var errClosed = fmt.Errorf("%w: embedded store is closed", ErrUnavailable)

// OpenLog opens (or creates, with its parents) the store in dir and replays
// it. Only one process may use a directory: another one waits up to 5
// seconds for its lock, then fails.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.lazySync <= 0 {
		opts.lazySync = lazySyncInterval
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the store's directory: %w", err)
	}
	lock := flock.New(filepath.Join(dir, "LOCK"))
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	locked, err := lock.TryLockContext(ctx, 50*time.Millisecond)
	cancel()
	if !locked {
		return nil, fmt.Errorf("locking %s (is another Caddy using it?): %v", dir, err)
	}
	s := &Log{
		dir:    dir,
		opts:   opts,
		lock:   lock,
		seed:   maphash.MakeSeed(),
		claims: make(map[uint64]claimRec),
		events: make(map[uint64]*logEvent),
		dests:  make(map[string]*logDest),
		nextID: 1,
		writes: make(chan *logOp, maxGroup),
		stop:   make(chan struct{}),
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		lock.Unlock()
		return nil, err
	}
	s.wg.Add(2)
	go s.writer(s.writes)
	go s.sweeper()
	return s, nil
}

// Ping reports whether the store is open.
func (s *Log) Ping(context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// Close finishes the pending writes, closes the files and releases the
// directory. It is idempotent.
func (s *Log) Close() error {
	s.closeMu.Lock()
	if s.writes == nil {
		s.closeMu.Unlock()
		return nil
	}
	close(s.writes)
	close(s.stop)
	s.writes = nil
	s.closeMu.Unlock()
	s.wg.Wait()
	s.closed.Store(true)
	err := s.syncLazy()
	s.segMu.Lock()
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	s.segMu.Unlock()
	s.evOpen.Do(func() { s.evErr = errClosed }) // never opened now
	if cerr := s.closeEvents(); err == nil {
		err = cerr
	}
	if uerr := s.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}

func (s *Log) closeFiles() error {
	var first error
	for _, seg := range s.segs {
		if err := seg.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// logOp is one write. build runs in the writer goroutine under mu, against
// the state every earlier write left, and appends the op's records (or
// nothing, when the write turns out to be moot).
type logOp struct {
	build func(b []byte) []byte
	done  chan error
	lazy  bool // does not wait for the fdatasync (see Log)
}

// submit runs build in the next group commit and waits until its records
// are durable and applied.
func (s *Log) submit(build func(b []byte) []byte) error { return s.write(build, false) }

// submitLazy runs build in the next group commit and waits until its
// records are written and applied, not for their fdatasync.
func (s *Log) submitLazy(build func(b []byte) []byte) error { return s.write(build, true) }

func (s *Log) write(build func(b []byte) []byte, lazy bool) error {
	s.closeMu.RLock()
	if s.writes == nil {
		s.closeMu.RUnlock()
		return errClosed
	}
	op := &logOp{build: build, done: make(chan error, 1), lazy: lazy}
	s.writes <- op
	s.closeMu.RUnlock()
	if err := <-op.done; err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// writer commits groups: whatever arrived during the previous commit's
// fsync is the next group. While a segment is being compacted it also runs
// when nothing arrives, so that compaction finishes on an idle gateway.
func (s *Log) writer(writes <-chan *logOp) {
	defer s.wg.Done()
	group := make([]*logOp, 0, maxGroup)
	frame := make([]byte, 0, 64<<10)
	for {
		group = group[:0]
		if s.compacting == nil {
			op, ok := <-writes
			if !ok {
				return
			}
			group = append(group, op)
		}
	gather:
		for len(group) < maxGroup {
			select {
			case op, ok := <-writes:
				if !ok {
					if len(group) == 0 {
						return
					}
					break gather
				}
				group = append(group, op)
			default:
				break gather
			}
		}
		frame = s.commit(group, frame[:0])
		if cap(frame) > 4<<20 {
			frame = nil // do not keep a redrive's or a compaction's buffer
		}
	}
}

// commit writes one frame holding the compaction chunk (first, so that the
// snapshots it copies precede any later change) and the group's records,
// syncs it (unless every write of the group is lazy) and applies it.
func (s *Log) commit(group []*logOp, frame []byte) []byte {
	frame = append(frame, make([]byte, frameHeader)...)
	var chunk []byte
	if s.compacting != nil {
		var err error
		if chunk, err = s.readChunk(); err != nil {
			s.compacting.noCompact, s.compacting = true, nil
		}
	}
	s.mu.Lock()
	active := s.segs[len(s.segs)-1]
	if active.size == int64(segmentHeaderLen) {
		frame = appendHeaderRecord(frame, s.nextID)
	}
	var compacted bool
	if chunk != nil {
		frame, compacted = s.compactChunk(frame, chunk)
	}
	for _, op := range group {
		frame = op.build(frame)
	}
	s.mu.Unlock()

	durable := chunk != nil || slices.ContainsFunc(group, func(op *logOp) bool { return !op.lazy })
	var err error
	if len(frame) > frameHeader { // else only moot writes, or nothing left to copy
		if err = s.append(active, frame, durable); err == nil {
			s.mu.Lock()
			err = s.replayFrame(active, active.size+frameHeader, frame[frameHeader:], time.Now().UnixNano())
			active.size += int64(len(frame))
			s.mu.Unlock()
		}
	}
	if err == nil && durable {
		err = s.syncLazy() // a durable write that wrote nothing waits for earlier lazy ones
	}
	for _, op := range group {
		op.done <- err
	}
	if err != nil {
		return frame
	}
	if compacted {
		s.dropCompacted()
	}
	if active.size >= s.opts.SegmentSize {
		// On failure (disk full, say) the full segment takes the next
		// frames and the next commit tries again; the writes themselves
		// report the disk's errors.
		_ = s.rotate()
	}
	s.maybeCompact()
	return frame
}

// syncLazy syncs the active segment if lazy writes are pending; in the
// writer goroutine (or once it is done).
func (s *Log) syncLazy() error {
	if !s.unsynced.Load() {
		return nil
	}
	s.mu.Lock()
	active := s.segs[len(s.segs)-1]
	s.mu.Unlock()
	if err := datasync(active.f); err != nil {
		return err
	}
	s.unsynced.Store(false)
	return nil
}

// noRecords is an op that writes nothing: submitted, the writer syncs
// pending lazy writes and considers compaction after it.
func noRecords(b []byte) []byte { return b }

// sweeper drops expired claims and wakes the writer to consider compaction,
// and has lazy writes synced within lazySyncInterval.
func (s *Log) sweeper() {
	defer s.wg.Done()
	sweep := time.NewTicker(s.opts.SweepInterval)
	defer sweep.Stop()
	lazy := time.NewTicker(s.opts.lazySync)
	defer lazy.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-sweep.C:
			s.sweep(now.UnixNano())
			_ = s.submit(noRecords)
		case <-lazy.C:
			if s.unsynced.Load() {
				_ = s.submit(noRecords)
			}
		}
	}
}
