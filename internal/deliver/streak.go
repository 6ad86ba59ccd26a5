package deliver

import (
	"sync/atomic"

	"go.uber.org/zap"
)

// errStreak logs a run of queue errors once when it starts and once when it
// ends, so that a store outage is one line, not one per poll or delivery.
type errStreak struct {
	failing atomic.Bool
	log     *zap.Logger
	target  string
}

// record notes the result of one queue operation.
func (s *errStreak) record(err error) {
	if err != nil {
		if !s.failing.Swap(true) {
			s.log.Error("delivery queue unavailable; backing off until it answers",
				zap.String("destination", s.target), zap.Error(err))
		}
		return
	}
	// Load first: the common case is no streak, and then nothing is written.
	if s.failing.Load() && s.failing.Swap(false) {
		s.log.Info("delivery queue available again", zap.String("destination", s.target))
	}
}
