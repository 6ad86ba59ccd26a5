package webhookingress

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// trickle hands out its data one Read at a time and records the largest
// buffer it was offered: what readBody had allocated before the bytes came.
type trickle struct {
	data    []byte
	step    int
	err     error // after the data; io.EOF for a complete body
	largest int
}

func (tr *trickle) Read(p []byte) (int, error) {
	tr.largest = max(tr.largest, len(p))
	if len(tr.data) == 0 {
		return 0, tr.err
	}
	n := copy(p, tr.data[:min(tr.step, len(tr.data))])
	tr.data = tr.data[n:]
	return n, nil
}

func TestReadBodyAllocatesWhatArrives(t *testing.T) {
	const declared = 10_000_000
	tr := &trickle{data: []byte("{"), step: 1, err: io.ErrUnexpectedEOF}
	r := httptest.NewRequest(http.MethodPost, "/", tr)
	r.ContentLength = declared
	if _, err := readBody(httptest.NewRecorder(), r, defaultMaxBody); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a body cut short: err = %v", err)
	}
	if tr.largest > bodyChunk {
		t.Fatalf("one byte received, %d bytes offered to it: the declared length was allocated", tr.largest)
	}
}

func TestReadBody(t *testing.T) {
	for _, size := range []int{0, 1, 1000, bodyChunk - 1, bodyChunk, bodyChunk + 1, 3*bodyChunk + 7, 1 << 20} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, declared := range []bool{true, false} {
			tr := &trickle{data: data, step: 4096, err: io.EOF}
			r := httptest.NewRequest(http.MethodPost, "/", tr)
			r.ContentLength = -1
			if declared {
				r.ContentLength = int64(size)
			}
			got, err := readBody(httptest.NewRecorder(), r, defaultMaxBody)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d, declared %v: %d bytes read, err %v", size, declared, len(got), err)
			}
			if declared && cap(got) != size {
				t.Errorf("size %d declared: buffer of %d bytes, want exactly the body", size, cap(got))
			}
			if size >= bodyChunk && tr.largest > 2*size {
				t.Errorf("size %d, declared %v: %d bytes offered at once", size, declared, tr.largest)
			}
		}
	}
}

func TestReadBodyLimit(t *testing.T) {
	const limit = 100
	declaredOver := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, limit+1)))
	if _, err := readBody(httptest.NewRecorder(), declaredOver, limit); !tooLarge(err) {
		t.Errorf("declared over the limit: err = %v", err)
	}
	chunkedOver := httptest.NewRequest(http.MethodPost, "/", &trickle{data: make([]byte, 5*limit), step: 7, err: io.EOF})
	chunkedOver.ContentLength = -1
	if _, err := readBody(httptest.NewRecorder(), chunkedOver, limit); !tooLarge(err) {
		t.Errorf("undeclared body over the limit: err = %v", err)
	}
}
