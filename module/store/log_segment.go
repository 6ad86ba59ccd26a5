package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// A segment file is a sequence of frames. A frame is its payload's length
// (4 bytes), the payload's CRC-32C (4 bytes), and the payload: whole records.
// A frame is one group commit, so a crash leaves a group entirely written
// or, at the end of the last segment, a torn frame that the next open cuts
// off (nobody was answered for it).
//
// The file is filled with zeros ahead of the frames, a megabyte at a time:
// syncing a write into blocks the file already has is data only, while
// syncing an append also commits the file system's journal, which took
// twice the CPU per commit. A zero length ends the frames.

const (
	frameHeader = 8
	segmentExt  = ".wal"
	fillChunk   = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id     uint64
	f      *os.File
	size   int64 // bytes of whole frames
	filled int64 // bytes of the file: frames, then zeros
	live   int64 // bytes of the records that replay still needs
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
	payload := frame[frameHeader:]
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
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
	// A sealed segment is whole on disk: damage there stops the open.
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
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{id: id, f: f}, nil
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

// load replays every segment, oldest first. A torn frame at the end of the
// last segment is cut off; anywhere else it means the files were damaged.
func (s *Log) load() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "*"+segmentExt))
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
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
		good, err := s.replaySegment(seg, now)
		seg.size = good
		if err != nil && i < len(names)-1 {
			return fmt.Errorf("embedded store: %s is damaged at byte %d: %w", name, good, err)
		}
		if i == len(names)-1 && seg.filled > good {
			// Cut a torn frame, and the zeros after the frames, so that
			// nothing but zeros can follow the frames written next.
			if err := f.Truncate(good); err != nil {
				return err
			}
			if err := datasync(f); err != nil {
				return err
			}
			seg.filled = good
		}
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].size >= s.opts.SegmentSize {
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

var errTorn = errors.New("torn or corrupt frame")

// replaySegment replays the segment's frames and returns the length of its
// whole, intact ones.
func (s *Log) replaySegment(seg *segment, now int64) (int64, error) {
	info, err := seg.f.Stat()
	if err != nil {
		return 0, err
	}
	seg.filled = info.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(seg.f, 0, info.Size()), 1<<20)
	var off int64
	var payload []byte
	for {
		payload, err = readFrame(r, payload, info.Size()-off)
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
		if err := s.replayFrame(seg, off+frameHeader, payload, now); err != nil {
			return off, err
		}
		off += frameHeader + int64(len(payload))
	}
}

// readFrame reads the next frame's payload into buf; io.EOF at a clean end.
// left is what remains to be read of r, so that a damaged length is caught
// before it is allocated.
func readFrame(r io.Reader, buf []byte, left int64) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 && h == [frameHeader]byte{} {
		return nil, io.EOF // the zeros after the last frame
	}
	if n == 0 || int64(n) > left-frameHeader {
		return nil, errTorn
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return nil, errTorn
	}
	return buf, nil
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
		size, live = size+seg.size, live+seg.live
	}
	if sealed[0].live <= 0 || 2*(size-live) >= size {
		s.compacting, s.compactAt = sealed[0], 0
	}
}

// compactChunk appends the live records of the next chunk of the segment
// being compacted; done reports that this was the last chunk. It runs in
// the writer under mu.
func (s *Log) compactChunk(frame []byte, chunk []byte) (_ []byte, done bool) {
	seg := s.compacting
	base := s.compactAt
	now := time.Now().UnixNano()
	r := &sliceReader{b: chunk}
	for {
		payload, err := readFrame(r, nil, int64(len(r.b)))
		if err != nil {
			break // the chunk's end: a partial frame is read with the next chunk
		}
		off := base + frameHeader
		frame = s.copyLive(frame, seg, off, payload, now)
		base = off + int64(len(payload))
	}
	if base == s.compactAt { // not even one intact frame: damaged
		seg.noCompact, s.compacting = true, nil
		return frame, false
	}
	s.compactAt = base
	return frame, s.compactAt >= seg.size
}

// readChunk reads up to compactChunk bytes (at least one whole frame) of
// the segment being compacted, outside mu: a sealed segment never changes.
func (s *Log) readChunk() ([]byte, error) {
	seg := s.compacting
	n := min(seg.size-s.compactAt, compactChunk)
	var h [frameHeader]byte
	if _, err := seg.f.ReadAt(h[:], s.compactAt); err != nil {
		return nil, err
	}
	n = max(n, frameHeader+int64(binary.BigEndian.Uint32(h[:])))
	chunk := make([]byte, n)
	if _, err := seg.f.ReadAt(chunk, s.compactAt); err != nil {
		return nil, err
	}
	return chunk, nil
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
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
