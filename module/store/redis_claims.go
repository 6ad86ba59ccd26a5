package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The nonce and the dedup key of a claim share the scope's hash tag, so each
// script touches one slot. Values: "inflight" while claimed (TTL = lease),
// "done" once committed (TTL = NonceTTL or Window). ARGV holds a TTL in ms,
// or "" when the claim has no nonce or no dedup key. The scripts are
// multiScripts: the claims of one pipeline share one EVALSHA.

// claimScript tests and takes each key with one SET NX: two commands for a
// free claim, which is the usual case. A refused claim takes nothing.
var claimScript = newMultiScript(`
if ARGV[1] ~= '' and not redis.call('SET', KEYS[1], 'inflight', 'NX', 'PX', ARGV[1]) then return 1 end
if ARGV[2] ~= '' and not redis.call('SET', KEYS[2], 'inflight', 'NX', 'PX', ARGV[2]) then
	if ARGV[1] ~= '' then redis.call('DEL', KEYS[1]) end
	if redis.call('GET', KEYS[2]) == 'done' then return 2 end
	return 3
end
return 0
`)

// releaseScript leaves committed keys alone: a late Release must not reopen
// a dedup window.
var releaseScript = newMultiScript(`
for i = 1, 2 do
	if ARGV[i] ~= '' and redis.call('GET', KEYS[i]) == 'inflight' then redis.call('DEL', KEYS[i]) end
end
return 0
`)

// Outcomes in the order claimScript returns them.
var claimOutcomes = [...]Outcome{Claimed, Replayed, Duplicate, InProgress}

func (r *Redis) claimKeys(c Claim) []string { return r.appendClaimKeys(make([]string, 0, 2), c) }

// appendClaimKeys appends the nonce's and the dedup key's Redis keys.
func (r *Redis) appendClaimKeys(keys []string, c Claim) []string {
	tag := r.prefix + "{" + c.Scope + "}"
	return append(keys, tag+":n:"+c.Nonce, tag+":d:"+c.Key)
}

// Claim takes the nonce and the dedup key in one script. An in-flight nonce
// is held for max(Lease, NonceTTL), so that an abandoned claim still blocks
// replays for the nonce's whole life.
func (r *Redis) Claim(ctx context.Context, c Claim) (Outcome, error) {
	nonceHold, keyHold := "", ""
	if c.Nonce != "" {
		nonceHold = strconv.FormatInt(ms(max(c.Lease, c.NonceTTL)), 10)
	}
	if c.Key != "" {
		keyHold = strconv.FormatInt(ms(c.Lease), 10)
	}
	n, err := r.runMerged(ctx, claimScript, r.claimKeys(c), nonceHold, keyHold)
	if err != nil {
		return 0, err
	}
	return claimOutcome(n)
}

func claimOutcome(n int64) (Outcome, error) {
	if n < 0 || n >= int64(len(claimOutcomes)) {
		return 0, fmt.Errorf("claim script returned %d", n)
	}
	return claimOutcomes[n], nil
}

// Commit keeps the nonce for NonceTTL and the dedup key for Window: plain
// SETs, which cost Redis less than a script call. Both keys share a slot.
func (r *Redis) Commit(ctx context.Context, c Claim) error {
	var cmds []redis.Cmder
	r.batch.do(ctx, func(p redis.Pipeliner) { cmds = r.addCommit(ctx, p, c, nil) })
	return firstErr(cmds)
}

// addCommit adds to p the SETs that commit c, and appends them to cmds.
func (r *Redis) addCommit(ctx context.Context, p redis.Pipeliner, c Claim, cmds []redis.Cmder) []redis.Cmder {
	keys := r.claimKeys(c)
	if c.Nonce != "" {
		cmds = append(cmds, p.Set(ctx, keys[0], "done", time.Duration(ms(c.NonceTTL))*time.Millisecond))
	}
	if c.Key != "" {
		cmds = append(cmds, p.Set(ctx, keys[1], "done", time.Duration(ms(c.Window))*time.Millisecond))
	}
	return cmds
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

// Release frees what Claim took, unless it was committed meanwhile.
func (r *Redis) Release(ctx context.Context, c Claim) error {
	nonce, key := "", ""
	if c.Nonce != "" {
		nonce = "1"
	}
	if c.Key != "" {
		key = "1"
	}
	_, err := r.runMerged(ctx, releaseScript, r.claimKeys(c), nonce, key)
	return err
}

func commitTTLs(c Claim) (nonceTTL, window string) {
	if c.Nonce != "" {
		nonceTTL = strconv.FormatInt(ms(c.NonceTTL), 10)
	}
	if c.Key != "" {
		window = strconv.FormatInt(ms(c.Window), 10)
	}
	return nonceTTL, window
}
