package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A claim is one key, <prefix>{<scope>}:e:<key>: the scope is the hash tag,
// so a claim and its commit touch one slot. Its value is a state byte and
// the claim's Nonce: "p<nonce>" in flight (TTL = Lease), "c<nonce>"
// committed (TTL = TTL). One SET ... NX GET takes a free key and returns a
// held key's value in the same command, from which the outcome is read:
// no script, no second command. Keys of the layout before (":n:" nonces,
// ":d:" dedup keys) are never read and expire on their own.

const (
	claimInFlight  = 'p'
	claimCommitted = 'c'
)

// claimKey is c's Redis key. An empty Key names no key that a claim
// writes: Enqueue's scripts take it as a placeholder.
func (r *Redis) claimKey(c Claim) string {
	return r.prefix + "{" + c.Scope + "}:e:" + c.Key
}

// claimValue is the value of c's key in state.
func claimValue(state byte, c Claim) string { return string(state) + c.Nonce }

// heldOutcome is the outcome of a claim refused because its key holds held.
func heldOutcome(held string, c Claim) Outcome {
	switch {
	case c.Nonce != "" && len(held) > 0 && held[1:] == c.Nonce:
		return Replayed
	case len(held) > 0 && held[0] == claimInFlight:
		return InProgress
	}
	return Duplicate
}

// Claim takes the key in flight for Lease with one SET NX GET (Redis 7.0 or
// later), sent in the shared pipeline.
func (r *Redis) Claim(ctx context.Context, c Claim) (Outcome, error) {
	if c.Key == "" {
		return Claimed, nil
	}
	var cmd *redis.Cmd
	r.batch.do(ctx, func(p redis.Pipeliner) {
		cmd = p.Do(ctx, "set", r.claimKey(c), claimValue(claimInFlight, c), "px", ms(c.Lease), "nx", "get")
	})
	held, err := cmd.Text()
	switch {
	case errors.Is(err, redis.Nil):
		return Claimed, nil
	case err != nil:
		return 0, unavailable(olderRedis(err))
	}
	return heldOutcome(held, c), nil
}

// olderRedis names the likely cause of a syntax error in answer to SET NX
// GET: a server older than 7.0.
func olderRedis(err error) error {
	if err != nil && strings.Contains(err.Error(), "syntax error") {
		return fmt.Errorf("%w (claims need Redis 7.0 or later: SET with NX and GET)", err)
	}
	return err
}

// Commit keeps the key, with the Nonce, for TTL: one plain SET.
func (r *Redis) Commit(ctx context.Context, c Claim) error {
	if c.Key == "" {
		return nil
	}
	var cmd redis.Cmder
	r.batch.do(ctx, func(p redis.Pipeliner) { cmd = r.addCommit(ctx, p, c) })
	return unavailable(cmd.Err())
}

// addCommit adds to p the SET that commits c (which has a Key).
func (r *Redis) addCommit(ctx context.Context, p redis.Pipeliner, c Claim) redis.Cmder {
	return p.Set(ctx, r.claimKey(c), claimValue(claimCommitted, c), time.Duration(ms(c.TTL))*time.Millisecond)
}

// releaseScript deletes the key only while it is in flight with this Nonce:
// a late Release must not reopen a dedup window, nor free another
// request's claim taken after the lease ran out.
var releaseScript = newMultiScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// Release frees c's key if it is still in flight with c's Nonce: the
// failure path's only script.
func (r *Redis) Release(ctx context.Context, c Claim) error {
	if c.Key == "" {
		return nil
	}
	_, err := r.runMerged(ctx, releaseScript, []string{r.claimKey(c)}, claimValue(claimInFlight, c))
	return err
}

// Outcomes in the order claimEnqueueScript returns them.
var claimOutcomes = [...]Outcome{Claimed, Replayed, Duplicate, InProgress}

func claimOutcome(n int64) (Outcome, error) {
	if n < 0 || n >= int64(len(claimOutcomes)) {
		return 0, fmt.Errorf("claim script returned %d", n)
	}
	return claimOutcomes[n], nil
}

// firstErr is the first of cmds' errors, as ErrUnavailable.
func firstErr(cmds []redis.Cmder) error {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}
