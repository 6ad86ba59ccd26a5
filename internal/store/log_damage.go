package store

import (
	"fmt"
	"io"
	"os"
)

// Damage is a stretch of a segment file that the open could not read.
// Only its place is reported, never its bytes: they hold webhook bodies.
type Damage struct {
	// Segment is the segment file's path.
	Segment string
	// Offset and Length place the stretch in the segment.
	Offset, Length int64
	// Torn marks an incomplete frame at the end of the log, which a crash
	// left while it was being written: it is cut off, not quarantined, and
	// nobody was answered for it.
	Torn bool
	// Quarantine is the file the damaged bytes were copied to; empty when
	// the copy failed with QuarantineErr.
	Quarantine    string
	QuarantineErr error
}

// span is a damaged stretch [start, end) of a segment.
type span struct{ start, end int64 }

// damage handles a stretch of seg that holds no intact frame: the open
// replays the frames around it, copies its bytes to
// "<segment>.damaged-<offset>" beside the segment, and reports it. The
// bytes stay in place (an open reports them again) until compaction
// drops the segment; the copy stays for the operator.
func (s *Log) damage(seg *segment, path string, off, n int64) {
	seg.damaged = append(seg.damaged, span{off, off + n})
	s.quarantineAndReport(seg.f, path, off, n)
}

// quarantineAndReport copies the damaged bytes [off, off+n) of the segment
// at path, read from f, to "<segment>.damaged-<offset>" and reports them.
func (s *Log) quarantineAndReport(f io.ReaderAt, path string, off, n int64) {
	d := Damage{Segment: path, Offset: off, Length: n, Quarantine: fmt.Sprintf("%s.damaged-%d", path, off)}
	if d.QuarantineErr = quarantine(d.Quarantine, io.NewSectionReader(f, off, n)); d.QuarantineErr != nil {
		d.Quarantine = ""
	}
	s.report(d)
}

func (s *Log) report(d Damage) {
	if s.opts.OnDamage != nil {
		s.opts.OnDamage(d)
	}
}

func quarantine(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// skipDamaged returns the end of the damaged stretch that starts at off,
// or off.
func (seg *segment) skipDamaged(off int64) int64 {
	for _, sp := range seg.damaged {
		if sp.start <= off && off < sp.end {
			off = sp.end
		}
	}
	return off
}

// nextDamaged returns where the first damaged stretch at or after off
// starts, or the segment's end.
func (seg *segment) nextDamaged(off int64) int64 {
	for _, sp := range seg.damaged {
		if sp.start >= off {
			return sp.start
		}
	}
	return seg.size
}
