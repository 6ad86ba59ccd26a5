package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLogDamagedFrame: a flipped byte in a frame, wherever in the frame and
// whether in the last segment or a sealed one, costs that frame only: the
// open skips it, copies its bytes beside the segment, reports it, and
// every other event is still there, before and after more writes and a
// reopen. A sealed segment with damage is still compacted away.
func TestLogDamagedFrame(t *testing.T) {
	for _, where := range []string{"last segment", "sealed segment"} {
		for part, at := range map[string]int64{"payload": -1, "marker": 2, "length": markerLen, "checksum": markerLen + 5} {
			t.Run(where+"/"+part, func(t *testing.T) {
				dir := t.TempDir()
				var opts LogOptions
				if where == "sealed segment" {
					opts.SegmentSize = 1 << 10
				}
				all := queueTwenty(t, dir, opts)

				names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
				must(t, err)
				if (where == "sealed segment") != (len(names) > 1) {
					t.Fatalf("%d segments for the %s case", len(names), where)
				}
				seg := names[0]
				frames := segmentFrames(t, seg)
				hit := frames[len(frames)/2]
				data, err := os.ReadFile(seg)
				must(t, err)
				lost := eventIn(t, data[hit.start:hit.end], all)
				if at < 0 {
					at = (hit.end - hit.start) / 2
				}
				data[hit.start+at] ^= 0x40 // in the length: far beyond the file
				must(t, os.WriteFile(seg, data, 0o600))
				damaged := slices.Clone(data[hit.start:hit.end])

				var reports []Damage
				opts.OnDamage = func(d Damage) { reports = append(reports, d) }
				s := openLogWith(t, dir, opts)
				want := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == lost })
				wantIDs(t, fetch(t, s, destA, "c", 100, time.Minute), want...)
				quarantined := fmt.Sprintf("%s.damaged-%d", seg, hit.start)
				wantReport := Damage{Segment: seg, Offset: hit.start, Length: hit.end - hit.start, Quarantine: quarantined}
				if len(reports) != 1 || reports[0] != wantReport {
					t.Fatalf("reported %+v, want %+v", reports, wantReport)
				}
				if got, err := os.ReadFile(quarantined); err != nil || !bytes.Equal(got, damaged) {
					t.Fatalf("quarantine file: %v, %d bytes, want the %d damaged ones", err, len(got), len(damaged))
				}

				enqueue(t, s, []string{destA}, "after")
				must(t, s.Close())
				reports = nil
				s = openLogWith(t, dir, opts)
				got := fetch(t, s, destA, "c", 100, time.Minute)
				wantIDs(t, got, append(want, "after")...)
				if len(reports) != 1 || reports[0] != wantReport {
					t.Fatalf("reopened: reported %+v, want %+v again", reports, wantReport)
				}
				if where == "last segment" {
					return
				}
				// Delivered, the events leave the damaged segment all
				// garbage, and compaction drops it.
				for _, d := range got {
					must(t, s.Ack(ctx, d))
				}
				waitFor(t, func() bool {
					must(t, s.Commit(ctx, Claim{Scope: "s", Key: "tick"}))
					_, err := os.Stat(seg)
					return os.IsNotExist(err)
				})
				wantQuarantined(t, dir, filepath.Base(quarantined))
			})
		}
	}
}

// queueTwenty queues e00 to e19 in a new log in dir, a frame each.
func queueTwenty(t *testing.T, dir string, opts LogOptions) []string {
	t.Helper()
	s := openLogWith(t, dir, opts)
	var all []string
	for i := range 20 {
		all = append(all, fmt.Sprintf("e%02d", i))
	}
	enqueue(t, s, []string{destA}, all...)
	must(t, s.Close())
	return all
}

// eventIn returns the id of the one event whose body b holds.
func eventIn(t *testing.T, b []byte, ids []string) string {
	t.Helper()
	var found []string
	for _, id := range ids {
		if bytes.Contains(b, []byte(`"id":"`+id+`"`)) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("frame holds events %v, want one", found)
	}
	return found[0]
}

// wantQuarantined checks the quarantine files in dir.
func wantQuarantined(t *testing.T, dir string, want ...string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.damaged-*"))
	must(t, err)
	got := []string{}
	for _, n := range names {
		got = append(got, filepath.Base(n))
	}
	if !slices.Equal(got, append([]string{}, want...)) {
		t.Fatalf("quarantine files %v, want %v", got, want)
	}
}

// TestLogDamagedHeader: a damaged segment header costs its 24 bytes; when
// both copies of the marker (the header's and the first frame's) are
// damaged, the segment is skipped whole and the store still opens.
func TestLogDamagedHeader(t *testing.T) {
	dir := t.TempDir()
	opts := LogOptions{SegmentSize: 1 << 10}
	all := queueTwenty(t, dir, opts)
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	must(t, err)
	last := names[len(names)-1]
	data, err := os.ReadFile(last)
	must(t, err)
	data[3] ^= 1
	must(t, os.WriteFile(last, data, 0o600))

	var reports []Damage
	opts.OnDamage = func(d Damage) { reports = append(reports, d) }
	s := openLogWith(t, dir, opts)
	wantIDs(t, fetch(t, s, destA, "c", 100, time.Minute), all...)
	if len(reports) != 1 || reports[0].Offset != 0 || reports[0].Length != int64(segmentHeaderLen) {
		t.Fatalf("reported %+v, want the header", reports)
	}
	enqueue(t, s, []string{destA}, "after")
	must(t, s.Close())

	// The first sealed segment loses its header and its first frame.
	first := segmentFrames(t, names[0])
	data, err = os.ReadFile(names[0])
	must(t, err)
	var lost []string
	for _, f := range first {
		for _, id := range all {
			if bytes.Contains(data[f.start:f.end], []byte(`"id":"`+id+`"`)) {
				lost = append(lost, id)
			}
		}
	}
	data[len(segmentMagic)+4] ^= 1
	data[first[0].start] ^= 1
	must(t, os.WriteFile(names[0], data, 0o600))
	reports = nil
	s = openLogWith(t, dir, opts)
	want := slices.DeleteFunc(append(slices.Clone(all), "after"), func(id string) bool { return slices.Contains(lost, id) })
	wantIDs(t, fetch(t, s, destA, "c", 100, time.Minute), want...)
	if len(reports) != 2 || reports[0].Segment != names[0] || reports[0].Offset != 0 || reports[0].Length != first[len(first)-1].end {
		t.Fatalf("reported %+v, want %s whole, then %s's header", reports, names[0], last)
	}
}

// TestLogShortSealedSegment: a sealed segment cut shorter than its header
// (a disk that lost its tail) is reported whole and the others are read;
// it once panicked reading past its end.
func TestLogShortSealedSegment(t *testing.T) {
	dir := t.TempDir()
	opts := LogOptions{SegmentSize: 1 << 10}
	all := queueTwenty(t, dir, opts)
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	must(t, err)
	if len(names) < 2 {
		t.Fatalf("%d segments, want several", len(names))
	}
	data, err := os.ReadFile(names[0])
	must(t, err)
	must(t, os.WriteFile(names[0], data[:10], 0o600))
	var lost []string
	for _, id := range all {
		if bytes.Contains(data, []byte(`"id":"`+id+`"`)) {
			lost = append(lost, id)
		}
	}

	var reports []Damage
	opts.OnDamage = func(d Damage) { reports = append(reports, d) }
	s := openLogWith(t, dir, opts)
	wantIDs(t, fetch(t, s, destA, "c", 100, time.Minute), slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(lost, id) })...)
	if len(reports) != 1 || reports[0].Segment != names[0] {
		t.Fatalf("reported %+v, want %s", reports, names[0])
	}
}

// TestLogSegmentFormat: a segment of a newer format version stops the open
// with an error that names the file, its format and what this build reads.
func TestLogSegmentFormat(t *testing.T) {
	newer, _ := newSegmentHeader()
	binary.BigEndian.PutUint32(newer[len(segmentMagic):], segmentVersion+1)
	binary.BigEndian.PutUint32(newer[segmentHeaderLen-4:], crc32.Checksum(newer[:segmentHeaderLen-4], castagnoli))
	for name, c := range map[string]struct {
		file []byte
		want []string
	}{
		"newer": {newer, []string{"format version 3", "reads versions 1 to 2"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "0000000000000001.wal")
			must(t, os.WriteFile(path, c.file, 0o600))
			_, err := OpenLog(dir, LogOptions{})
			if err == nil {
				t.Fatal("opened")
			}
			for _, w := range append(c.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestLogReadsFormatVersion1: a store written in segment format 1 is read
// as it is; new records go to a new segment, so that the build that wrote
// it can still read the old one.
func TestLogReadsFormatVersion1(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	enqueue(t, s, []string{destA}, "v1")
	must(t, s.Close())
	names, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(names) != 1 {
		t.Fatalf("segments %q", names)
	}
	b, err := os.ReadFile(names[0])
	must(t, err)
	binary.BigEndian.PutUint32(b[len(segmentMagic):], 1)
	binary.BigEndian.PutUint32(b[segmentHeaderLen-4:], crc32.Checksum(b[:segmentHeaderLen-4], castagnoli))
	must(t, os.WriteFile(names[0], b, 0o600))

	s = openLog(t, dir)
	enqueue(t, s, []string{destA}, "v2")
	wantIDs(t, fetch(t, s, destA, "c1", 10, time.Minute), "v1", "v2")
	must(t, s.Close())
	after, err := os.ReadFile(names[0])
	must(t, err)
	if len(after) > len(b) || !bytes.Equal(after, b[:len(after)]) { // the zeros after the frames are cut
		t.Errorf("the format 1 segment was written to: %d bytes, were %d", len(after), len(b))
	}
	if names, _ = filepath.Glob(filepath.Join(dir, "*.wal")); len(names) != 2 {
		t.Errorf("segments %q, want a new one for the writes", names)
	}
}

// predecessorStore copies testdata/predecessor, a store that the build
// before segment format 1 (commit e2eeaf0) wrote: evt_1..3 claimed (scope stripe, the old
// key layout) and queued for the publisher and the archive; at the
// publisher evt_1 delivered and evt_2 dead ("HTTP 500"). Its segment is
// cut after its last frame, where the build left zeros.
func predecessorStore(t *testing.T) (dir, segment string, data []byte) {
	data, err := os.ReadFile("testdata/predecessor/0000000000000001.wal")
	must(t, err)
	dir = t.TempDir()
	segment = filepath.Join(dir, "0000000000000001.wal")
	must(t, os.WriteFile(segment, data, 0o600))
	return dir, segment, data
}

const (
	publisher = "http://publisher.internal/hook"
	archive   = "http://archive.internal/hook"
)

// TestLogUpgradesPredecessor: a gateway upgraded over a store of the
// headerless format keeps its queued events and dead letters; its claims,
// of the earlier key layout, are gone as expired keys would be; the
// segment is rewritten once, in the current format.
func TestLogUpgradesPredecessor(t *testing.T) {
	dir, segment, _ := predecessorStore(t)
	var reports []Damage
	s := openLogWith(t, dir, LogOptions{OnDamage: func(d Damage) { reports = append(reports, d) }})
	if len(reports) != 0 {
		t.Fatalf("reported %+v", reports)
	}
	wantIDs(t, fetch(t, s, publisher, "c", 10, time.Minute), "evt_3")
	wantIDs(t, fetch(t, s, archive, "c", 10, time.Minute), "evt_1", "evt_2", "evt_3")
	dead, err := s.DeadLetters(ctx, publisher, "", 10)
	must(t, err)
	if len(dead) != 1 || dead[0].ID != "evt_2" || dead[0].LastError != "HTTP 500" || dead[0].Provider != "stripe" {
		t.Fatalf("dead letters %+v, want evt_2 with its error", dead)
	}
	mustClaim(t, s, claim("stripe", "evt_1", "n1"), Claimed)
	must(t, s.Commit(ctx, claim("stripe", "evt_1", "n1")))
	must(t, s.Close())

	h := make([]byte, segmentHeaderLen)
	f, err := os.Open(segment)
	must(t, err)
	_, err = io.ReadFull(f, h)
	f.Close()
	must(t, err)
	if _, version, ok := parseSegmentHeader(h); !ok || version != segmentVersion {
		t.Fatalf("segment not rewritten in format %d", segmentVersion)
	}
	s = openLog(t, dir)
	mustClaim(t, s, claim("stripe", "evt_1", "n1"), Replayed)
	wantIDs(t, fetch(t, s, publisher, "c", 10, time.Minute), "evt_3")
	if names, _ := filepath.Glob(filepath.Join(dir, "*.upgrade")); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
}

// TestLogUpgradeDamage: without markers, damage in a headerless segment
// costs the frames from the damage on, copied beside it and reported; a
// torn last frame is cut off; the frames before either are kept.
func TestLogUpgradeDamage(t *testing.T) {
	t.Run("torn", func(t *testing.T) {
		dir, segment, data := predecessorStore(t)
		must(t, os.WriteFile(segment, data[:len(data)-5], 0o600))
		var reports []Damage
		s := openLogWith(t, dir, LogOptions{OnDamage: func(d Damage) { reports = append(reports, d) }})
		if len(reports) != 1 || !reports[0].Torn {
			t.Fatalf("reported %+v, want one torn frame", reports)
		}
		if got := ids(fetch(t, s, archive, "c", 10, time.Minute)); len(got) == 0 {
			t.Fatal("the frames before the torn one are lost")
		}
	})
	t.Run("damaged", func(t *testing.T) {
		dir, segment, data := predecessorStore(t)
		data[len(data)/2] ^= 0x40
		must(t, os.WriteFile(segment, data, 0o600))
		var reports []Damage
		s := openLogWith(t, dir, LogOptions{OnDamage: func(d Damage) { reports = append(reports, d) }})
		if len(reports) != 1 || reports[0].Torn || reports[0].Quarantine == "" {
			t.Fatalf("reported %+v, want one quarantined stretch", reports)
		}
		q, err := os.ReadFile(reports[0].Quarantine)
		must(t, err)
		if !bytes.Equal(q, data[reports[0].Offset:]) {
			t.Fatal("the quarantine is not the damaged bytes")
		}
		if got := ids(fetch(t, s, archive, "c", 10, time.Minute)); len(got) == 0 || len(got) == 3 {
			t.Fatalf("archive fetched %v: want the events before the damage only", got)
		}
	})
}

// FuzzFrameScan: whatever bytes of a segment are flipped, every frame that
// no flip touched is found at its place; the walk reports intact frames
// and damaged stretches in order, back to back, and never panics.
func FuzzFrameScan(f *testing.F) {
	f.Add([]byte{30, 200, 5, 90}, []byte{0, 40, 1})
	f.Add([]byte{1, 1, 1, 1, 1, 1}, []byte{0, 9, 0x80, 0, 60, 0xff})
	f.Add([]byte{255, 255, 0}, []byte{})
	f.Fuzz(func(t *testing.T, sizes, flips []byte) {
		header, m := newSegmentHeader()
		file := slices.Clone(header)
		var frames []span
		for i, size := range sizes {
			payload := bytes.Repeat([]byte{byte(i)}, int(size)+1)
			// A body may hold anything, a frame-shaped one with a
			// marker other than the segment's too.
			payload = append(payload, m[:markerLen-1]...)
			start := int64(len(file))
			file = append(file, make([]byte, frameHeader)...)
			file = append(file, payload...)
			putFrameHeader(file[start:], m)
			frames = append(frames, span{start, int64(len(file))})
		}
		touched := make([]bool, len(file))
		for i := 0; i+2 < len(flips); i += 3 {
			at := int(binary.BigEndian.Uint16(flips[i:])) % len(file)
			if flips[i+2] != 0 {
				file[at] ^= flips[i+2]
				touched[at] = true
			}
		}
		file = append(file, make([]byte, 100)...)
		sr := &segReader{r: bytes.NewReader(file), size: int64(len(file))}
		end, err := sr.dataEnd()
		must(t, err)
		var found []span
		at := int64(segmentHeaderLen)
		stop, err := sr.scan(at, end, m, func(off int64, payload []byte, n int64) {
			if off != at || int64(len(payload)) != n-frameHeader {
				t.Fatalf("frame at %d (%d bytes), walk at %d", off, n, at)
			}
			found, at = append(found, span{off, off + n}), off+n
		}, func(off, n int64, final bool) bool {
			if off != at || n <= 0 || final != (off+n == end) {
				t.Fatalf("damage [%d,+%d) final %v, walk at %d, end %d", off, n, final, at, end)
			}
			at = off + n
			return false
		})
		must(t, err)
		if stop != at || stop < end {
			t.Fatalf("walk ended at %d, reached %d, data end %d", stop, at, end)
		}
		for _, fr := range frames {
			if !slices.Contains(touched[fr.start:fr.end], true) && !slices.Contains(found, fr) {
				t.Fatalf("untouched frame %v not found; found %v", fr, found)
			}
		}
	})
}
