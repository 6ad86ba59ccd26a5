package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// A segment file starts with a header: the magic "WHI-LOG\n", the format
// version (4 bytes), the segment's sync marker (8 random bytes) and the
// CRC-32C of those 20 bytes. Then come the frames: each is the sync marker,
// its payload's length (4 bytes), the CRC-32C of the length and the
// payload (4 bytes), and the payload: whole records.
//
// The marker lets a reader that met damage find the next frame by
// searching for it byte by byte, whatever a damaged length said. It is
// random per segment, so that a frame-shaped webhook body (every byte from
// the network is hostile) is never taken for a frame: its sender cannot
// know the marker. When the header is damaged, the marker is the one of
// its copy and the first frame's that finds an intact frame.

const (
	segmentMagic = "WHI-LOG\n"
	// segmentVersion 2 adds earlier attempts to a state (log_records.go);
	// a version 1 segment is read as it is, never appended to.
	segmentVersion   = 2
	markerLen        = 8
	segmentHeaderLen = len(segmentMagic) + 4 + markerLen + 4
	frameHeader      = markerLen + 8
	// scanWindow is how much of a segment is read at once at open.
	scanWindow = 1 << 20
)

type marker [markerLen]byte

// newSegmentHeader returns a new segment's header, with a fresh marker.
func newSegmentHeader() ([]byte, marker) {
	h := make([]byte, 0, segmentHeaderLen)
	h = append(h, segmentMagic...)
	h = binary.BigEndian.AppendUint32(h, segmentVersion)
	var m marker
	_, _ = rand.Read(m[:]) // never fails
	h = append(h, m[:]...)
	return binary.BigEndian.AppendUint32(h, crc32.Checksum(h, castagnoli)), m
}

// parseSegmentHeader reads a header; ok is false when h is not an intact
// one (too short, wrong magic or checksum), whatever its version. m is the
// header's copy of the marker, intact or not.
func parseSegmentHeader(h []byte) (m marker, version uint32, ok bool) {
	if len(h) < segmentHeaderLen {
		return m, 0, false
	}
	copy(m[:], h[len(segmentMagic)+4:])
	ok = string(h[:len(segmentMagic)]) == segmentMagic &&
		crc32.Checksum(h[:segmentHeaderLen-4], castagnoli) == binary.BigEndian.Uint32(h[segmentHeaderLen-4:])
	return m, binary.BigEndian.Uint32(h[len(segmentMagic):]), ok
}

// putFrameHeader fills the header of a frame whose payload follows it.
func putFrameHeader(frame []byte, m marker) {
	copy(frame, m[:])
	binary.BigEndian.PutUint32(frame[markerLen:], uint32(len(frame)-frameHeader))
	binary.BigEndian.PutUint32(frame[markerLen+4:], frameChecksum(frame))
}

// frameChecksum covers the marker too, so that a damaged header cannot
// take a damaged copy of the marker from a frame.
func frameChecksum(frame []byte) uint32 {
	return crc32.Update(crc32.Checksum(frame[:markerLen+4], castagnoli), castagnoli, frame[frameHeader:])
}

var errBadFrame = errors.New("no intact frame")

// parseFrame reads the frame at the start of b: its payload and its whole
// length. A frame cut short by the end of b is errBadFrame too.
func parseFrame(b []byte, m marker) (payload []byte, n int64, err error) {
	if len(b) < frameHeader || !bytes.Equal(b[:markerLen], m[:]) {
		return nil, 0, errBadFrame
	}
	size := binary.BigEndian.Uint32(b[markerLen:])
	if size == 0 || uint64(size) > uint64(len(b)-frameHeader) {
		return nil, 0, errBadFrame
	}
	n = frameHeader + int64(size)
	if frameChecksum(b[:n]) != binary.BigEndian.Uint32(b[markerLen+4:]) {
		return nil, 0, errBadFrame
	}
	return b[frameHeader:n], n, nil
}

// segReader reads a segment file through a window, so that replaying
// small frames is not a read call each.
type segReader struct {
	r    io.ReaderAt
	size int64 // of the file
	buf  []byte
	at   int64 // file offset of buf
}

// bytes returns the file's bytes [off, off+n), n clipped to the file's end.
// The slice is valid until the next call.
func (sr *segReader) bytes(off int64, n int64) ([]byte, error) {
	if off >= sr.size {
		return nil, nil // past the end: a damaged header may name any offset
	}
	n = max(0, min(n, sr.size-off))
	if off >= sr.at && off+n <= sr.at+int64(len(sr.buf)) {
		return sr.buf[off-sr.at:][:n], nil
	}
	size := min(max(n, scanWindow), sr.size-off)
	if int64(cap(sr.buf)) < size {
		sr.buf = make([]byte, size)
	}
	sr.buf, sr.at = sr.buf[:size], off
	if _, err := sr.r.ReadAt(sr.buf, off); err != nil && err != io.EOF {
		sr.buf = sr.buf[:0]
		return nil, err
	}
	return sr.buf[:n], nil
}

// readSegmentStart opens f for a replay: a reader over the whole file, the
// end of its data and its header's bytes (fewer when the file is shorter).
func readSegmentStart(f *os.File) (sr *segReader, size, end int64, header []byte, err error) {
	info, err := f.Stat()
	if err != nil {
		return nil, 0, 0, nil, err
	}
	sr = &segReader{r: f, size: info.Size()}
	if end, err = sr.dataEnd(); err != nil {
		return nil, 0, 0, nil, err
	}
	header, err = sr.bytes(0, int64(segmentHeaderLen))
	return sr, info.Size(), end, header, err
}

// frame reads the intact frame at off, or returns errBadFrame.
func (sr *segReader) frame(off int64, m marker) (payload []byte, n int64, err error) {
	h, err := sr.bytes(off, frameHeader)
	if err != nil {
		return nil, 0, err
	}
	if len(h) < frameHeader || !bytes.Equal(h[:markerLen], m[:]) {
		return nil, 0, errBadFrame
	}
	size := int64(binary.BigEndian.Uint32(h[markerLen:]))
	if size > sr.size-off-frameHeader {
		return nil, 0, errBadFrame // checked before it is read: a damaged length allocates nothing
	}
	b, err := sr.bytes(off, frameHeader+size)
	if err != nil {
		return nil, 0, err
	}
	return parseFrame(b, m)
}

// next finds the first intact frame that starts in [from, end), searching
// for the marker byte by byte; -1 when there is none.
func (sr *segReader) next(from, end int64, m marker) (int64, error) {
	for p := from; p < end; {
		w, err := sr.bytes(p, min(scanWindow, end-p+markerLen-1))
		if err != nil {
			return -1, err
		}
		i := bytes.Index(w, m[:])
		if i < 0 {
			if int64(len(w)) < markerLen {
				return -1, nil
			}
			p += int64(len(w)) - (markerLen - 1) // a marker may straddle two windows
			continue
		}
		q := p + int64(i)
		if q >= end {
			return -1, nil
		}
		if _, _, err := sr.frame(q, m); err == nil {
			return q, nil
		} else if err != errBadFrame {
			return -1, err
		}
		p = q + 1
	}
	return -1, nil
}

// scan walks the frames from off up to end: each intact one goes to frame,
// each stretch without one to bad, with final set when no intact frame
// follows it; bad may stop the walk there. A damaged length costs only its
// frame: the next one is found by its marker. scan returns where the walk
// ended.
func (sr *segReader) scan(off, end int64, m marker, frame func(off int64, payload []byte, n int64),
	bad func(off, n int64, final bool) (stop bool)) (int64, error) {
	for off < end {
		payload, n, err := sr.frame(off, m)
		if err == nil {
			frame(off, payload, n)
			off += n
			continue
		}
		if err != errBadFrame {
			return off, err
		}
		next, err := sr.next(off+1, end, m)
		if err != nil {
			return off, err
		}
		final := next < 0
		if final {
			next = end
		}
		if bad(off, next-off, final) {
			return off, nil
		}
		off = next
	}
	return off, nil
}

// dataEnd is the offset just after the file's last byte that is not zero:
// segments are filled with zeros ahead of their frames.
func (sr *segReader) dataEnd() (int64, error) {
	for end := sr.size; end > 0; {
		start := max(0, end-scanWindow)
		w, err := sr.bytes(start, end-start)
		if err != nil {
			return 0, err
		}
		for i := len(w) - 1; i >= 0; i-- {
			if w[i] != 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// torn reports whether the bytes at off, where no intact frame follows in
// the segment, are a frame whose writing a crash interrupted: its header
// or its declared end lies beyond the written bytes (end). A bad frame
// that the written bytes hold whole is damage, not a torn write.
func (sr *segReader) torn(off, end int64, m marker) bool {
	if off+frameHeader > end {
		return true
	}
	h, err := sr.bytes(off, frameHeader)
	if err != nil || !bytes.Equal(h[:markerLen], m[:]) {
		return false
	}
	return off+frameHeader+int64(binary.BigEndian.Uint32(h[markerLen:])) > end
}

// predecessorFormat reports whether the file starts like a segment of the
// development builds before format 1: no header, a frame of length and
// CRC-32C of the payload, whose first record is the H record.
func (sr *segReader) predecessorFormat() bool {
	h, err := sr.bytes(0, 8)
	if err != nil || len(h) < 8 {
		return false
	}
	n := int64(binary.BigEndian.Uint32(h))
	sum := binary.BigEndian.Uint32(h[4:])
	b, err := sr.bytes(8, n)
	return err == nil && n > 0 && int64(len(b)) == n && b[0] == recHeader && crc32.Checksum(b, castagnoli) == sum
}

// errFormat is the open's error for a segment this build cannot read.
func errFormat(path string, version uint32) error {
	return fmt.Errorf("embedded store: %s is segment format version %d, and this build reads versions 1 to %d: "+
		"run the Caddy that wrote it, or move the directory aside to start afresh", path, version, segmentVersion)
}

// predecessorFrameHeader is a pre-format-1 frame's length and CRC-32C.
const predecessorFrameHeader = 8

// upgradePredecessor rewrites a segment of the development builds before
// format 1 in format 1, into a new file renamed over it (a crash leaves one
// or the other whole), so that a gateway upgraded over such a store keeps
// its queued events and dead letters. The claim records there hold the
// earlier key layout, which no claim of this build can match: they are
// left out, as Redis lets such keys expire. Those frames carry no marker
// to find the next one by, so damage costs the rest of the segment: it is
// copied beside the segment and reported, unless it is the torn last write
// of the last segment.
func (s *Log) upgradePredecessor(seg *segment, path string, sr *segReader, end int64, last bool) error {
	tmp := path + ".upgrade"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the rename, a no-op
	defer f.Close()
	header, m := newSegmentHeader()
	w := bufio.NewWriter(f)
	w.Write(header)
	frame := make([]byte, 0, 64<<10)
	off := int64(0)
	for off < end {
		payload, err := sr.predecessorFrame(off, end)
		if err == errBadFrame {
			if last && sr.predecessorTorn(off, end) {
				s.report(Damage{Segment: path, Offset: off, Length: end - off, Torn: true})
			} else {
				s.quarantineAndReport(seg.f, path, off, end-off)
			}
			break
		}
		if err != nil {
			return err
		}
		off += predecessorFrameHeader + int64(len(payload))
		frame = frame[:frameHeader]
		if forEachRecord(payload, 0, func(typ byte, body []byte, at int64) error {
			if typ != recClaim {
				frame = append(frame, payload[at:at+int64(recordHeader+len(body))]...)
			}
			return nil
		}) != nil {
			frame = append(frame[:frameHeader], payload...) // intact, yet not records: the replay reports it
		}
		if len(frame) > frameHeader {
			putFrameHeader(frame, m)
			w.Write(frame)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	upgraded, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	seg.f.Close()
	seg.f = upgraded
	return nil
}

// predecessorFrame reads the intact pre-format-1 frame at off, or returns
// errBadFrame.
func (sr *segReader) predecessorFrame(off, end int64) ([]byte, error) {
	h, err := sr.bytes(off, predecessorFrameHeader)
	if err != nil {
		return nil, err
	}
	if len(h) < predecessorFrameHeader {
		return nil, errBadFrame
	}
	n, sum := int64(binary.BigEndian.Uint32(h)), binary.BigEndian.Uint32(h[4:])
	if n == 0 || n > end-off-predecessorFrameHeader {
		return nil, errBadFrame // checked before it is read: a damaged length allocates nothing
	}
	b, err := sr.bytes(off+predecessorFrameHeader, n)
	if err != nil {
		return nil, err
	}
	if crc32.Checksum(b, castagnoli) != sum {
		return nil, errBadFrame
	}
	return b, nil
}

// predecessorTorn reports whether the bad pre-format-1 frame at off runs
// past the written bytes, as a write that a crash interrupted does.
func (sr *segReader) predecessorTorn(off, end int64) bool {
	h, err := sr.bytes(off, predecessorFrameHeader)
	return err == nil && (len(h) < predecessorFrameHeader || off+predecessorFrameHeader+int64(binary.BigEndian.Uint32(h)) > end)
}
