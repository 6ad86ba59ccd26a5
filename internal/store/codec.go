package store

import (
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
	"time"
)

// The embedded store keeps a queue entry as length-prefixed fields: id,
// provider, last error, received at, attempts, headers, body.

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendBytes is appendString for a []byte: string(p) would copy a body.
func appendBytes(b []byte, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

func encodeEntry(ev Event, attempts int, lastError string) []byte {
	return appendEntry(nil, ev, attempts, lastError)
}

// appendEntry appends the encoding of a queue entry to b.
func appendEntry(b []byte, ev Event, attempts int, lastError string) []byte {
	size := len(ev.ID) + len(ev.Provider) + len(lastError) + len(ev.Body) + 64
	for name, values := range ev.Header {
		size += len(name) + 8
		for _, v := range values {
			size += len(v) + 4
		}
	}
	b = slices.Grow(b, size)
	b = appendString(b, ev.ID)
	b = appendString(b, ev.Provider)
	b = appendString(b, lastError)
	b = binary.AppendVarint(b, ev.ReceivedAt.UnixNano())
	b = binary.AppendUvarint(b, uint64(attempts))
	b = binary.AppendUvarint(b, uint64(len(ev.Header)))
	for name, values := range ev.Header {
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(len(values)))
		for _, v := range values {
			b = appendString(b, v)
		}
	}
	return appendBytes(b, ev.Body)
}

var errCorrupt = errors.New("embedded store: corrupt queue entry")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errCorrupt, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = errCorrupt, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a length-prefixed field without copying it: a fetched
// entry is decoded from a buffer of its own.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errCorrupt, nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

// decodeEntry fills the event, attempts and last error of d from b.
func decodeEntry(b []byte, d *Delivery) error {
	dec := &decoder{b: b}
	d.ID = dec.string()
	d.Provider = dec.string()
	d.LastError = dec.string()
	d.ReceivedAt = time.Unix(0, dec.varint())
	d.Attempts = int(dec.uvarint())
	if n := dec.uvarint(); n > 0 && dec.err == nil {
		d.Header = make(http.Header, min(n, 64))
		for i := uint64(0); i < n && dec.err == nil; i++ {
			name := dec.string()
			count := dec.uvarint()
			values := make([]string, 0, min(count, 16))
			for j := uint64(0); j < count && dec.err == nil; j++ {
				values = append(values, dec.string())
			}
			d.Header[name] = values
		}
	}
	d.Body = dec.bytes()
	return dec.err
}

// skipEntry checks that b decodes as decodeEntry reads it, allocating
// nothing.
func skipEntry(b []byte) error {
	dec := &decoder{b: b}
	dec.bytes() // id
	dec.bytes() // provider
	dec.bytes() // last error
	dec.skipToBody()
	dec.bytes() // body
	return dec.err
}

// skipToBody passes over an entry's received time, attempts and headers
// (appendEntry's encoding), after its last error.
func (d *decoder) skipToBody() {
	d.varint()
	d.uvarint()
	for n := d.uvarint(); n > 0 && d.err == nil; n-- {
		d.bytes()
		for count := d.uvarint(); count > 0 && d.err == nil; count-- {
			d.bytes()
		}
	}
}
