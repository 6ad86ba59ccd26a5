package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// A segment file is a header and a sequence of frames (log_format.go). A
// frame is one group commit, so a crash leaves a group entirely written
// or, at the end of the last segment, a torn frame that the next open cuts
// off (nobody was answered for it). Damage anywhere else costs the frames
// it hit, not the file: the open skips to the next intact frame, copies the
// damaged bytes beside the segment and reports them (log_damage.go).
//
// The file is filled with zeros ahead of the frames, a megabyte at a time:
// syncing a write into blocks the file already has is data only, while
// syncing an append also commits the file system's journal, which took
// twice the CPU per commit. Zeros up to the file's end end the frames.

const (
	segmentExt = ".wal"
	fillChunk  = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id     uint64
	f      *os.File
	marker marker
	size   int64 // bytes of the header and the frames (and damage among them)
	filled int64 // bytes of the file: header and frames, then zeros
	// live is the bytes of the records that replay still needs; changed
	// under mu, but by Claim, which frees an expired claim's record under
	// claimsMu alone.
	live atomic.Int64
	// damaged are the stretches the open skipped, in order.
	damaged []span
	// noCompact is set when the segment could not be read for compaction;
	// it stays until the next open reports the damage.
	noCompact bool
}

func (s *Log) segmentPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", id, segmentExt))
}

// append writes frame (whose header it fills) at the segment's end and,
// when durable, syncs it; else the sync is left to syncLazy.
func (s *Log) append(seg *segment, frame []byte, durable bool) error {
	if err := seg.fill(seg.size+int64(len(frame)), min(fillChunk, s.opts.SegmentSize)); err != nil {
		return err
	}
	putFrameHeader(frame, seg.marker)
	if _, err := seg.f.WriteAt(frame, seg.size); err != nil {
		return err
	}
	if !durable {
		s.unsynced.Store(true)
		return nil
	}
	if err := datasync(seg.f); err != nil {
		return err
	}
	s.unsynced.Store(false)
	return nil
}

var zeros = make([]byte, fillChunk)

// fill writes and syncs zeros, chunk bytes at a time, up to at least end.
func (seg *segment) fill(end, chunk int64) error {
	if end <= seg.filled {
		return nil
	}
	for seg.filled < end {
		if _, err := seg.f.WriteAt(zeros[:chunk], seg.filled); err != nil {
			return err
		}
		seg.filled += chunk
	}
	return datasync(seg.f)
}

// rotate starts a new segment; the full one becomes sealed.
func (s *Log) rotate() error {
	// A sealed segment is whole on disk: an open finds nothing torn there.
	if err := s.syncLazy(); err != nil {
		return err
	}
	s.mu.Lock()
	id := s.segs[len(s.segs)-1].id + 1
	s.mu.Unlock()
	seg, err := s.createSegment(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	return nil
}

func (s *Log) createSegment(id uint64) (*segment, error) {
	f, err := os.OpenFile(s.segmentPath(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	seg := &segment{id: id, f: f}
	if err := seg.writeHeader(); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return seg, nil
}

// writeHeader starts the (empty) segment with a header and a new marker.
func (seg *segment) writeHeader() error {
	h, m := newSegmentHeader()
	if _, err := seg.f.WriteAt(h, 0); err != nil {
		return err
	}
	if err := datasync(seg.f); err != nil {
		return err
	}
	seg.marker, seg.size, seg.filled = m, int64(len(h)), int64(len(h))
	return nil
}

// syncDir makes a created segment file survive a crash.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; NTFS journals them
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// load replays every segment, oldest first.
func (s *Log) load() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "*"+segmentExt))
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	appendable := false
	for i, name := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), segmentExt), 16, 64)
		if err != nil {
			return fmt.Errorf("%s: not a segment name", name)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		seg := &segment{id: id, f: f}
		s.segs = append(s.segs, seg)
		if appendable, err = s.replaySegment(seg, name, i == len(names)-1, now); err != nil {
			return err
		}
	}
	if !appendable || s.segs[len(s.segs)-1].size >= s.opts.SegmentSize {
		var next uint64 = 1
		if len(s.segs) > 0 {
			next = s.segs[len(s.segs)-1].id + 1
		}
		seg, err := s.createSegment(next)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	return nil
}

// replaySegment replays the segment's frames. Damage is skipped and
// reported (see damage); in the last segment a torn frame at the end, and
// the zeros after the frames, are cut off, so that nothing but zeros
// follows the frames written next. appendable is false when the frames
// cannot be found at all, or the segment is of an earlier format version:
// then a new segment takes the writes. It fails
// only for a segment of another format, or a file that cannot be read or
// cut.
func (s *Log) replaySegment(seg *segment, path string, last bool, now int64) (appendable bool, err error) {
	sr, size, end, h, err := readSegmentStart(seg.f)
	if err != nil {
		return false, err
	}
	seg.filled = size
	m, version, ok := parseSegmentHeader(h)
	off := int64(segmentHeaderLen)
	switch {
	case ok && (version < 1 || version > segmentVersion):
		return false, errFormat(path, version)
	case ok:
		seg.marker = m
	case sr.predecessorFormat():
		if err := s.upgradePredecessor(seg, path, sr, end, last); err != nil {
			return false, fmt.Errorf("embedded store: upgrading %s to segment format version %d: %w", path, segmentVersion, err)
		}
		return s.replaySegment(seg, path, last, now)
	case last && end <= off:
		// Created, and a crash came before its header was on disk.
		if err := seg.f.Truncate(0); err != nil {
			return false, err
		}
		return true, seg.writeHeader()
	default:
		// A damaged header: its copy of the marker or the first frame's
		// finds the frames, unless both are damaged.
		first, err := sr.next(off, end, m)
		if err == nil && first < 0 {
			b, _ := sr.bytes(off, markerLen)
			copy(m[:], b)
			first, err = sr.next(off, end, m)
		}
		if err != nil {
			return false, err
		}
		if first < 0 {
			seg.size = max(end, off)
			s.damage(seg, path, 0, seg.size)
			return false, nil
		}
		seg.marker = m
		s.damage(seg, path, 0, first)
		off = first
	}
	off, err = sr.scan(off, end, seg.marker, func(off int64, payload []byte, n int64) {
		if s.replayFrame(seg, off+frameHeader, payload, now) != nil {
			s.damage(seg, path, off, n) // intact, yet not records this build writes
		}
	}, func(off, n int64, final bool) bool {
		if final && last && sr.torn(off, end, seg.marker) {
			s.report(Damage{Segment: path, Offset: off, Length: n, Torn: true})
			return true
		}
		s.damage(seg, path, off, n)
		return false
	})
	if err != nil {
		return false, err
	}
	seg.size = off
	if last && seg.filled > seg.size {
		if err := seg.f.Truncate(seg.size); err != nil {
			return false, err
		}
		if err := datasync(seg.f); err != nil {
			return false, err
		}
		seg.filled = seg.size
	}
	// The build that wrote an earlier version's segment can still read it.
	return version == segmentVersion || !ok, nil
}

// Compaction copies the live records of the oldest sealed segment to the
// end of the log, a chunk per group commit, then deletes it. Claims are
// copied as they are; an event is copied as a snapshot of its current
// state, so the state records that followed it are no longer needed. Only
// the oldest segment is compacted: a state record can then only refer to
// an event in its own segment or a later one, and is dropped with it.

// maybeCompact starts compacting the oldest sealed segment when it holds
// nothing live or when half the sealed bytes are garbage, which bounds the
// disk to about twice the live data plus a segment.
func (s *Log) maybeCompact() {
	if s.compacting != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sealed := s.segs[:len(s.segs)-1]
	if len(sealed) == 0 || sealed[0].noCompact {
		return
	}
	var size, live int64
	for _, seg := range sealed {
		size, live = size+seg.size, live+seg.live.Load()
	}
	if sealed[0].live.Load() <= 0 || 2*(size-live) >= size {
		s.compacting = sealed[0]
		s.compactAt = sealed[0].skipDamaged(int64(segmentHeaderLen))
	}
}

// compactChunk appends the live records of the next chunk of the segment
// being compacted; done reports that this was the last chunk. It runs in
// the writer under mu.
func (s *Log) compactChunk(frame []byte, chunk []byte) (_ []byte, done bool) {
	seg := s.compacting
	base := s.compactAt
	now := time.Now().UnixNano()
	for {
		payload, n, err := parseFrame(chunk[base-s.compactAt:], seg.marker)
		if err != nil {
			break // the chunk's end: a partial frame is read with the next chunk
		}
		frame = s.copyLive(frame, seg, base+frameHeader, payload, now)
		base += n
	}
	if base == s.compactAt && len(chunk) > 0 { // not even one intact frame: damaged since the open
		seg.noCompact, s.compacting = true, nil
		return frame, false
	}
	s.compactAt = seg.skipDamaged(base)
	return frame, s.compactAt >= seg.size
}

// readChunk reads up to compactChunk bytes (at least one whole frame) of
// the segment being compacted, up to the next damage the open skipped,
// outside mu: a sealed segment never changes.
func (s *Log) readChunk() ([]byte, error) {
	seg := s.compacting
	limit := seg.nextDamaged(s.compactAt) - s.compactAt
	n := min(limit, compactChunk)
	if n >= frameHeader {
		var h [frameHeader]byte
		if _, err := seg.f.ReadAt(h[:], s.compactAt); err != nil {
			return nil, err
		}
		n = min(max(n, frameHeader+int64(binary.BigEndian.Uint32(h[markerLen:]))), limit)
	}
	chunk := make([]byte, n)
	if _, err := seg.f.ReadAt(chunk, s.compactAt); err != nil {
		return nil, err
	}
	return chunk, nil
}

// dropCompacted deletes the compacted segment, now that its live records
// are durable elsewhere; readers of its file finish first.
func (s *Log) dropCompacted() {
	seg := s.compacting
	s.compacting = nil
	s.mu.Lock()
	for i, other := range s.segs {
		if other == seg {
			s.segs = append(s.segs[:i:i], s.segs[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if s.opts.beforeDelete != nil {
		s.opts.beforeDelete(s.segmentPath(seg.id))
	}
	s.segMu.Lock()
	seg.f.Close()
	os.Remove(s.segmentPath(seg.id))
	s.segMu.Unlock()
}
