package deliver

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const lo, hi = time.Second, 10 * time.Minute
	almostOne := func() float64 { return 0.999999 }
	cases := []struct {
		name     string
		attempt  int
		rnd      func() float64
		min, max time.Duration // lo, hi here; overridden when set
		want     time.Duration
	}{
		{"first attempt up to min", 1, almostOne, 0, 0, lo},
		{"second doubles", 2, almostOne, 0, 0, 2 * lo},
		{"fifth", 5, almostOne, 0, 0, 16 * lo},
		{"capped at max", 20, almostOne, 0, 0, hi},
		{"no overflow", 1 << 20, almostOne, 0, 0, hi},
		{"attempt 0 counts as 1", 0, almostOne, 0, 0, lo},
		{"full jitter", 3, func() float64 { return 0.5 }, 0, 0, 2 * lo},
		{"at least min/10", 3, func() float64 { return 0 }, 0, 0, lo / 10},
		{"min equals max", 7, almostOne, time.Second, time.Second, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			minWait, maxWait := lo, hi
			if c.min != 0 {
				minWait, maxWait = c.min, c.max
			}
			got := Backoff(c.attempt, minWait, maxWait, c.rnd)
			// almostOne leaves a few microseconds below the ceiling.
			if diff := c.want - got; diff < 0 || diff > c.want/1000 {
				t.Errorf("Backoff = %s, want %s", got, c.want)
			}
		})
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true}, // RFC 850, still allowed
	}
	for _, c := range cases {
		got, ok := retryAfter(c.value, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", c.value, got, ok, c.want, c.ok)
		}
	}
}
