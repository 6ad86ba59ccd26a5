package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The nonce and the dedup key of a claim share the scope's hash tag, so each
// script touches one slot. Values: "inflight" while claimed (TTL = lease),
// "done" once committed (TTL = NonceTTL or Window). ARGV holds a TTL in ms,
// or "" when the claim has no nonce or no dedup key.

var claimScript = redis.NewScript(`
if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if ARGV[2] ~= '' then
	local v = redis.call('GET', KEYS[2])
	if v == 'done' then return 2 end
	if v then return 3 end
end
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], 'inflight', 'PX', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], 'inflight', 'PX', ARGV[2]) end
return 0
`)

var commitScript = redis.NewScript(`
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], 'done', 'PX', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], 'done', 'PX', ARGV[2]) end
return 0
`)

// releaseScript leaves committed keys alone: a late Release must not reopen
// a dedup window.
var releaseScript = redis.NewScript(`
for i = 1, 2 do
	if ARGV[i] ~= '' and redis.call('GET', KEYS[i]) == 'inflight' then redis.call('DEL', KEYS[i]) end
end
return 0
`)

// Outcomes in the order claimScript returns them.
var claimOutcomes = [...]Outcome{Claimed, Replayed, Duplicate, InProgress}

func (r *Redis) claimKeys(c Claim) []string {
	tag := r.prefix + "{" + c.Scope + "}"
	return []string{tag + ":n:" + c.Nonce, tag + ":d:" + c.Key}
}

// Claim takes the nonce and the dedup key in one script. An in-flight nonce
// is held for max(Lease, NonceTTL), so that an abandoned claim still blocks
// replays for the nonce's whole life.
func (r *Redis) Claim(ctx context.Context, c Claim) (Outcome, error) {
	nonceHold, keyHold := "", ""
	if c.Nonce != "" {
		nonceHold = fmt.Sprint(ms(max(c.Lease, c.NonceTTL)))
	}
	if c.Key != "" {
		keyHold = fmt.Sprint(ms(c.Lease))
	}
	n, err := r.runScript(ctx, claimScript, r.claimKeys(c), nonceHold, keyHold).Int()
	if err != nil {
		return 0, unavailable(err)
	}
	if n < 0 || n >= len(claimOutcomes) {
		return 0, fmt.Errorf("claim script returned %d", n)
	}
	return claimOutcomes[n], nil
}

// Commit keeps the nonce for NonceTTL and the dedup key for Window.
func (r *Redis) Commit(ctx context.Context, c Claim) error {
	nonceTTL, window := commitTTLs(c)
	return unavailable(r.runScript(ctx, commitScript, r.claimKeys(c), nonceTTL, window).Err())
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
	return unavailable(r.runScript(ctx, releaseScript, r.claimKeys(c), nonce, key).Err())
}

func commitTTLs(c Claim) (nonceTTL, window string) {
	if c.Nonce != "" {
		nonceTTL = fmt.Sprint(ms(c.NonceTTL))
	}
	if c.Key != "" {
		window = fmt.Sprint(ms(c.Window))
	}
	return nonceTTL, window
}
