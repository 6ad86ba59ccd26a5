package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"time"
)

// The event log keeps every verified event, with its body, headers and
// delivery attempts, for a retention window: to search, inspect and replay.
// It is observability, not part of what the gateway acknowledges: a record
// is written after the answer, in batches, and a record that could not be
// written costs the log that record, never the event.

// Event states, as EventRecord.State and the status filter name them.
const (
	StatePassed    = "passed"    // sync: the next handler answered 2xx
	StateFailed    = "failed"    // sync: it answered something else
	StateUnrouted  = "unrouted"  // no route or destination wanted it
	StateQueued    = "queued"    // async: queued, no attempt yet
	StateDelivered = "delivered" // async: the latest attempt was delivered
	StateRetrying  = "retrying"  // async: the latest attempt failed; retried
	StateDead      = "dead"      // async: the latest attempt gave up
)

// Bounds on what a record keeps from a request, so that a record's
// metadata stays small whatever the sender sent.
const (
	maxEventField = 256 // ID, Provider, Scope, Type
	maxEventError = 512 // an attempt's Error
)

// EventRecord is one verified event. Header, Body and Log are set by
// ReadEvent only; a listing reads metadata alone.
type EventRecord struct {
	// Key is the log's name for the record (EventKey): unique, and in the
	// order of ReceivedAt, so that keys sort newest last.
	Key        string
	ID         string // the Webhook-Id
	Provider   string
	Scope      string // the claim scope: a route, or a shared scope
	Type       string // the event type; "" when the preset has none
	Async      bool   // queued by webhook_forward (else passed on in sync)
	ReceivedAt time.Time
	// Answer is the status the gateway answered the sender.
	Answer int
	// Destinations are the URLs an async event was queued for,
	// credentials masked.
	Destinations []string
	BodySize     int
	// State is the event's state (StatePassed...): for an async event the
	// result of its latest attempt.
	State string
	// Attempts counts the delivery attempts recorded (replays included).
	Attempts int
	Header   http.Header // without credentials
	Body     []byte
	Log      []EventAttempt // every attempt, oldest first
}

// EventAttempt is one delivery attempt of a recorded event.
type EventAttempt struct {
	Key         string // the record's key
	At          time.Time
	Destination string // credentials masked
	Attempt     int    // the attempt's number (Webhook-Attempt)
	Status      int    // 0 when no response came
	Duration    time.Duration
	Result      string // StateDelivered, StateRetrying or StateDead
	Error       string
	Replay      bool // an attempt of a replay
}

// EventBatch is what one RecordEvents call writes, in order: records
// first, then attempts (which may name records of this batch).
type EventBatch struct {
	Records  []EventRecord
	Attempts []EventAttempt
	// Retain is how long a record is kept after its ReceivedAt (Redis
	// sets it as the keys' expiry; the embedded log drops it on
	// ExpireEvents).
	Retain time.Duration
}

// EventFilter selects records for ListEvents. Empty fields select all.
type EventFilter struct {
	Provider string
	Scope    string
	// Type is an event type or a glob of one (path.Match: `*` within a
	// dot-free part is not special; "video.*" matches "video.asset").
	Type string
	// Status is a state name (StatePassed...) or the gateway's answer as
	// a number ("202").
	Status       string
	Since, Until time.Time // ReceivedAt in [Since, Until)
	// Cursor is the Key of the last record of the previous page: the
	// listing goes on with older ones. "" starts with the newest.
	Cursor string
	Limit  int // at most this many records; 0 or over MaxEventPage is MaxEventPage
	// Scan bounds how many records one call examines, matching or not
	// (0: DefaultEventScan), so that a page of a rare filter over a
	// large log answers in bounded time; the page then ends early with
	// a Next cursor to go on from.
	Scan int
}

// Bounds on one listing call.
const (
	MaxEventPage     = 1000
	DefaultEventScan = 20000
)

// EventPage is one page of a listing, newest first.
type EventPage struct {
	Events []EventRecord
	// Next is the cursor of the following page; "" when no older record
	// remains to examine.
	Next string
}

// ErrBadFilter wraps a filter that cannot select anything sensible (a
// malformed type glob or status).
var ErrBadFilter = errors.New("bad event filter")

// EventLog is the event log of a store.
type EventLog interface {
	// RecordEvents writes b in one store write (one round trip, one file
	// append). It keeps nothing of b once it returns: the caller reuses
	// its slices. An attempt for a key the log does not hold (expired, or
	// written by another instance not yet flushed) is kept as a record of
	// its own, holding only attempts, until the record arrives or the
	// retention window ends.
	RecordEvents(ctx context.Context, b EventBatch) error
	// ListEvents returns records that match f, newest first, metadata
	// only. It reads no body, so a page costs the same whatever the
	// events' size.
	ListEvents(ctx context.Context, f EventFilter) (EventPage, error)
	// ReadEvent returns one record with its header, body and attempts:
	// ref is a Key or, when no record has that key, a Webhook-Id (the
	// newest record of that id). nil when there is none.
	ReadEvent(ctx context.Context, ref string) (*EventRecord, error)
	// ExpireEvents drops the records received before cutoff and, in the
	// embedded log, the oldest ones beyond maxBytes (0: no cap). Redis
	// expires records on its own; this trims its index.
	ExpireEvents(ctx context.Context, cutoff time.Time, maxBytes int64) error
}

// EventKey names the record of the event of provider and id received at
// receivedAt: the nanoseconds in fixed-width hex (so that keys sort by
// time) and a digest of provider and id. The deliverer recomputes it from
// a queued event, so that an attempt finds its record without the queue
// carrying the key.
//
// It is on every recorded request's path, hence no formatting: the digest
// is FNV-1a (32 bits; with the nanoseconds, enough to tell events apart).
func EventKey(receivedAt time.Time, provider, id string) string {
	h := uint32(2166136261)
	for _, part := range [...]string{provider, "\x00", id} {
		for i := range len(part) {
			h = (h ^ uint32(part[i])) * 16777619
		}
	}
	var raw [12]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(receivedAt.UnixNano()))
	binary.BigEndian.PutUint32(raw[8:], h)
	var key [eventKeyLen]byte
	hex.Encode(key[:], raw[:])
	return string(key[:])
}

// eventKeyLen is the length of every EventKey.
const eventKeyLen = 16 + 8

// isEventKey reports whether s has the shape of an EventKey.
func isEventKey(s string) bool {
	if len(s) != eventKeyLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// eventKeyTime is the time part of an EventKey, as it sorts: a bound
// for key ranges (since and until).
func eventKeyTime(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(t.UnixNano()))
}

// Check reports a filter that selects nothing sensible.
func (f EventFilter) Check() error {
	if f.Type != "" {
		if _, err := path.Match(f.Type, ""); err != nil {
			return fmt.Errorf("%w: type %q: %v", ErrBadFilter, f.Type, err)
		}
	}
	switch f.Status {
	case "", StatePassed, StateFailed, StateUnrouted, StateQueued, StateDelivered, StateRetrying, StateDead:
	default:
		if n, err := strconv.Atoi(f.Status); err != nil || n < 100 || n > 599 {
			return fmt.Errorf("%w: status %q is no state (passed, failed, unrouted, queued, delivered, retrying, dead) and no HTTP status", ErrBadFilter, f.Status)
		}
	}
	if f.Cursor != "" && !isEventKey(f.Cursor) {
		return fmt.Errorf("%w: cursor %q is not one a listing returned", ErrBadFilter, f.Cursor)
	}
	return nil
}

// Matches reports whether r's metadata matches f (its time range
// included; its cursor excluded).
func (f EventFilter) Matches(r *EventRecord) bool {
	switch {
	case f.Provider != "" && r.Provider != f.Provider,
		f.Scope != "" && r.Scope != f.Scope,
		!f.Since.IsZero() && r.ReceivedAt.Before(f.Since),
		!f.Until.IsZero() && !r.ReceivedAt.Before(f.Until):
		return false
	}
	if f.Type != "" {
		if ok, _ := path.Match(f.Type, r.Type); !ok {
			return false
		}
	}
	if f.Status != "" && f.Status != r.State && f.Status != strconv.Itoa(r.Answer) {
		return false
	}
	return true
}

// limits returns the page size and scan budget f asks for, bounded.
func (f EventFilter) limits() (page, scan int) {
	page, scan = f.Limit, f.Scan
	if page <= 0 || page > MaxEventPage {
		page = MaxEventPage
	}
	if scan <= 0 {
		scan = DefaultEventScan
	}
	return page, max(scan, page)
}

// bounded cuts what a record keeps of a request value.
func bounded(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Bounded returns r with its request-derived fields cut to their bounds:
// what both logs store (RecordEvents applies it).
func (r EventRecord) Bounded() EventRecord {
	r.ID = bounded(r.ID, maxEventField)
	r.Provider = bounded(r.Provider, maxEventField)
	r.Scope = bounded(r.Scope, maxEventField)
	r.Type = bounded(r.Type, maxEventField)
	return r
}

// Bounded returns a with its error cut to its bound (RecordEvents applies
// it).
func (a EventAttempt) Bounded() EventAttempt {
	a.Error = bounded(a.Error, maxEventError)
	return a
}
