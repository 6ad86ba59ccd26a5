// Package deliver forwards queued webhooks to internal services: workers per
// destination, retries with backoff, rate limits and Standard Webhooks
// re-signing. It knows nothing of Caddy.
package deliver

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/time/rate"
)

// Destination is one `webhook_forward` target and its delivery policy.
type Destination struct {
	URL         string
	Timeout     time.Duration // per attempt
	MaxAttempts int           // counted from the first; then a dead letter
	MaxAge      time.Duration // since the event was received; then a dead letter
	BackoffMin  time.Duration
	BackoffMax  time.Duration
	Concurrency int        // deliveries in flight
	Rate        rate.Limit // deliveries per second; rate.Inf = unlimited
	Burst       int
	Header      http.Header // set on every delivery
	SignSecret  string      // "whsec_..." : re-sign with Standard Webhooks headers; "" = off
}

// Outcome of one delivery attempt, reported to the Observer.
type Outcome struct {
	Destination string // the URL without its userinfo (a metric label)
	EventID     string
	Provider    string
	Attempt     int
	Status      int    // HTTP status, 0 on a network error
	Err         string // "" on success
	Duration    time.Duration
	// Result is "delivered", "retry" or "dead".
	Result string
	// At is when the attempt started.
	At time.Time
	// ReceivedAt is when the event was queued (a replay: when it was
	// replayed).
	ReceivedAt time.Time
	// ReplayOf is the event log key of the event a replay replays; ""
	// for an event as the sender sent it.
	ReplayOf string
}

// ReplayHeader marks a replay from the event log; its value is the key of
// the replayed event's record. Only a replay carries it: a sender's is
// dropped at the edge.
const ReplayHeader = "Webhook-Replay-Of"

// Results of an attempt, as in Outcome.Result.
const (
	ResultDelivered = "delivered"
	ResultRetry     = "retry"
	ResultDead      = "dead"
)

// Validate reports every setting that would keep d from being delivered to.
// Call it when the configuration is loaded: NewWorker cannot return an error,
// so a worker built from an invalid Destination only logs why and delivers
// nothing (its events stay queued). MaxAge 0 means no age limit.
func (d Destination) Validate() error {
	var errs []error
	if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry credentials: do not echo it.
		errs = append(errs, errors.New("destination URL must be an absolute http or https URL"))
	}
	if d.Timeout <= 0 {
		errs = append(errs, errors.New("timeout must be positive"))
	}
	if d.MaxAttempts < 1 {
		errs = append(errs, errors.New("max_attempts must be at least 1"))
	}
	if d.MaxAge < 0 {
		errs = append(errs, errors.New("max_age must not be negative"))
	}
	if d.BackoffMin <= 0 || d.BackoffMax < d.BackoffMin {
		errs = append(errs, errors.New("backoff needs 0 < min <= max"))
	}
	if d.Concurrency < 1 {
		errs = append(errs, errors.New("concurrency must be at least 1"))
	}
	if d.Rate <= 0 {
		errs = append(errs, errors.New("rate must be positive (rate.Inf for unlimited)"))
	} else if d.Rate != rate.Inf && d.Burst < 1 {
		errs = append(errs, errors.New("a finite rate needs a burst of at least 1"))
	}
	if d.SignSecret != "" {
		if _, err := NewSigner(d.SignSecret); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
