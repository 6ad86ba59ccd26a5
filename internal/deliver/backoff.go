package deliver

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff is the wait after failed attempt number attempt (1 = the first):
// full jitter, rnd() * min(maxWait, minWait * 2^(attempt-1)), where rnd
// returns a value in [0, 1). It is at least minWait/10 so that an unlucky
// draw does not hammer a failing destination at once.
func Backoff(attempt int, minWait, maxWait time.Duration, rnd func() float64) time.Duration {
	ceiling := maxWait
	// minWait << shift, unless that passes maxWait (or overflows).
	if shift := max(attempt, 1) - 1; shift < 63 && minWait <= maxWait>>shift {
		ceiling = minWait << shift
	}
	return max(time.Duration(rnd()*float64(ceiling)), minWait/10)
}

// retryAfter parses a Retry-After value, delay-seconds or an HTTP date, into
// the wait from now. A date in the past means no wait.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	// 32 bits of seconds (136 years) cannot overflow a Duration.
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// retryWait is the wait before the next attempt. On 429 and 503 the
// destination's Retry-After wins over the backoff, but stays within
// [BackoffMin/10, BackoffMax]: BackoffMax is the operator's word on how long
// an event may sit between attempts, and MaxAge still applies.
func (w *Worker) retryWait(attempt, status int, header http.Header, now time.Time) time.Duration {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if wait, ok := retryAfter(header.Get("Retry-After"), now); ok {
			return min(max(wait, w.d.BackoffMin/10), w.d.BackoffMax)
		}
	}
	return Backoff(attempt, w.d.BackoffMin, w.d.BackoffMax, w.rnd)
}
