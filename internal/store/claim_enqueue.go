package store

import "context"

// ClaimEnqueuer is an optional capability of a Store: the asynchronous
// path's claim, enqueue and commit as one call (one round trip in Redis).
// Callers type-assert it and fall back to Claim, then Enqueue (releasing
// the claim if that fails).
type ClaimEnqueuer interface {
	// ClaimEnqueue takes c as Claim does and, only when the outcome is
	// Claimed, durably stores ev for each destination with c committed,
	// as Enqueue does. Any other outcome queues and takes nothing. On an
	// error nothing is held in flight: either nothing was taken or the
	// event is queued with c committed (a reply lost on the way), so the
	// sender's retry is either accepted or a duplicate, never blocked. The
	// caller's context is not canceled when the sender hangs up and has no
	// deadline: the store bounds its own wait (timeouts of its client).
	ClaimEnqueue(ctx context.Context, c Claim, destinations []string, ev Event) (Outcome, error)
}

// claimThenEnqueue is ClaimEnqueue as two calls of s: Claim, then Enqueue,
// which commits the claim, releasing it if that fails so that the
// sender's retry goes through (if the store is gone too, the lease frees
// it).
func claimThenEnqueue(ctx context.Context, s Store, c Claim, destinations []string, ev Event) (Outcome, error) {
	outcome, err := s.Claim(ctx, c)
	if err != nil || outcome != Claimed {
		return outcome, err
	}
	if err := s.Enqueue(ctx, c, destinations, ev); err != nil {
		_ = s.Release(ctx, c)
		return 0, err
	}
	return Claimed, nil
}
