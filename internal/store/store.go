// Package store keeps the claims (one key per event, for replays and
// duplicates) and the delivery queue, in Redis or in an embedded log
// (log.go). It knows nothing of Caddy.
package store

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrUnavailable wraps every error caused by the backing store being
// unreachable; the glue answers 503 store_unavailable for it.
var ErrUnavailable = errors.New("store unavailable")

// ErrNoEntry is a dead-letter cursor that names no entry of the store.
var ErrNoEntry = errors.New("not a dead-letter entry")

// Outcome of a Claim.
type Outcome int

const (
	Claimed    Outcome = iota // the key was free (or expired); it is now held
	Replayed                  // the key is held with the same non-empty Nonce
	Duplicate                 // the key was committed, with another Nonce or none
	InProgress                // the key is held in flight, with another Nonce or none
)

func (o Outcome) String() string {
	switch o {
	case Claimed:
		return "claimed"
	case Replayed:
		return "replayed"
	case Duplicate:
		return "duplicate"
	case InProgress:
		return "in_progress"
	}
	return "unknown"
}

// Claim names one event in one scope: one key, whatever the request's
// mix of replay and dedup checks. A key held with the same non-empty Nonce
// is the same signed request again (Replayed); held with another Nonce, or
// with none, it is the sender's retry of the event (Duplicate once
// committed, InProgress while in flight).
type Claim struct {
	// Scope is the namespace: a route, or a `scope` several routes share.
	// In Redis it is the hash tag, so a claim touches one slot. Bounded,
	// printable ASCII (the glue hashes anything longer).
	Scope string
	// Key identifies the event, derived only from bytes the signature
	// covers: the signed event id, else a digest of the signed content,
	// else the nonce. Required.
	Key string
	// Nonce is the signed request's one-time material (a digest), "" when
	// the sender signs no timestamp: then an identical request again is
	// the sender's retry, a Duplicate.
	Nonce string
	// TTL is how long a committed claim is kept: the longer of the dedup
	// window and the replay window.
	TTL time.Duration
	// Lease bounds how long an uncommitted claim is held if the process dies
	// before Commit or Release.
	Lease time.Duration
}

// Claims is the replay and dedup part of a store. Each call is one round
// trip (in Redis one command, but Release's compare-and-delete).
type Claims interface {
	// Claim takes c.Key, in flight for c.Lease, when it is free. Otherwise
	// it takes nothing and says why: Replayed when the key is held with
	// the same non-empty Nonce, else Duplicate (committed) or InProgress.
	Claim(ctx context.Context, c Claim) (Outcome, error)
	// Commit keeps the claim, with its Nonce, for c.TTL.
	Commit(ctx context.Context, c Claim) error
	// Release frees a claim still in flight with c's Nonce, so that the
	// sender's retry goes through; a committed claim stays.
	Release(ctx context.Context, c Claim) error
}

// Event is a verified webhook as it is queued and delivered.
type Event struct {
	ID         string
	Provider   string
	Header     http.Header // the sender's headers, hop-by-hop ones dropped
	Body       []byte
	ReceivedAt time.Time
}

// Delivery is one queued event for one destination.
type Delivery struct {
	Event
	Destination string
	Attempts    int // attempts made so far (0 before the first)
	// EarlierAttempts are those made before the latest redrive: a redrive
	// gives the event its attempts again, and EarlierAttempts+Attempts
	// counts every attempt.
	EarlierAttempts int
	LastError       string // of the latest failed attempt
	// Handle identifies the queue entry for Ack/Retry/Dead (stream entry id,
	// or the embedded store's sequence key).
	Handle string
}

// QueueStats is one destination's queue as the admin API shows it.
type QueueStats struct {
	Destination      string  `json:"destination"`
	Queued           int64   `json:"queued"`
	InFlight         int64   `json:"in_flight"`
	Retrying         int64   `json:"retrying"`
	Dead             int64   `json:"dead"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// Queue is the durable buffer between ingest and delivery.
type Queue interface {
	// Enqueue durably stores ev for each destination and commits the claim
	// c (when c.Key is set) in the same step: one round trip, one
	// transaction. It returns only once the event is durable.
	Enqueue(ctx context.Context, c Claim, destinations []string, ev Event) error
	// Fetch leases up to max ready deliveries of destination to consumer
	// for lease; entries leased by a dead consumer longer than lease become
	// fetchable again. Retries scheduled in the future are not returned.
	// Every consumer of a destination must pass the same lease (Redis
	// compares an entry's idle time with the fetcher's lease).
	Fetch(ctx context.Context, destination, consumer string, max int, lease time.Duration) ([]Delivery, error)
	// Ack removes a delivered entry.
	Ack(ctx context.Context, d Delivery) error
	// Retry schedules the entry again at `at`, recording the attempt count
	// and error in d.
	Retry(ctx context.Context, d Delivery, at time.Time) error
	// Dead moves the entry to the destination's dead-letter list.
	Dead(ctx context.Context, d Delivery) error

	Stats(ctx context.Context, destination string) (QueueStats, error)

	// DeadLetters lists up to limit of the destination's dead letters,
	// oldest first, starting after the entry `after` ("" = from the
	// first). It reads metadata only, never a body, so a page costs the
	// same whatever the events' size. An after that is no entry of this
	// store is ErrNoEntry.
	DeadLetters(ctx context.Context, destination, after string, limit int) ([]DeadLetter, error)
	// FindDead returns the metadata of the dead letters that ids name,
	// through an index (no scan). An id names every dead letter of that
	// event id or, when there is none, the dead letter with that Entry.
	// Unknown ids are skipped; at most limit are returned.
	FindDead(ctx context.Context, destination string, ids []string, limit int) ([]DeadLetter, error)
	// ReadDead returns one dead letter, by Entry, with its headers and
	// body; nil when there is none.
	ReadDead(ctx context.Context, destination, entry string) (*DeadLetter, error)
	// Redrive puts the dead letters that ids name (as for FindDead; all of
	// them when ids is empty) back in the queue, with Attempts added to
	// EarlierAttempts and reset to 0, and returns how many it moved.
	Redrive(ctx context.Context, destination string, ids []string) (int, error)
	// DeleteDead drops the dead letters that ids name (as for FindDead)
	// and returns how many it dropped.
	DeleteDead(ctx context.Context, destination string, ids []string) (int, error)
}

// DeadLetter is a delivery that gave up. Header and Body are set by
// ReadDead only.
type DeadLetter struct {
	// Entry is the store's name for the dead letter (a stream entry id in
	// Redis, the event's sequence number in the embedded store): unique
	// within the destination, and the cursor of DeadLetters.
	Entry       string
	ID          string // the event id (Webhook-Id)
	Provider    string
	Destination string
	Attempts    int
	LastError   string // of the last attempt
	BodySize    int
	ReceivedAt  time.Time
	DiedAt      time.Time // zero when the store did not record it
	Header      http.Header
	Body        []byte
}

// Store is everything a backend offers.
type Store interface {
	Claims
	Queue
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	Close() error
}
