package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// multiScript runs one script body for many calls in one EVALSHA: the calls
// of concurrent requests that share a pipeline. An EVALSHA costs Redis (and
// the client) more than the few commands a claim runs inside it, so sending
// one per request made the scripts' overhead most of Redis's CPU.
//
// The body is written as a plain script, with KEYS and ARGV; it runs once
// per call with KEYS and ARGV rebound to that call's. KEYS of the shared
// EVALSHA are every call's keys in order; ARGV holds per call its number of
// keys, its number of arguments, then the arguments. The reply is the list
// of the bodies' replies. A body reports a failure of its own by returning
// a string (the error's text) so that the other calls are not failed with
// it; an error raised by redis.call fails the whole EVALSHA.
type multiScript struct{ script *redis.Script }

func newMultiScript(body string) *multiScript {
	return &multiScript{redis.NewScript(`
local function call(KEYS, ARGV)
` + body + `
end
local out, k, a = {}, 1, 1
while a <= #ARGV do
	local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
	out[#out + 1] = call({unpack(KEYS, k, k + nk - 1)}, {unpack(ARGV, a + 2, a + 1 + na)})
	k, a = k + nk, a + 2 + na
end
return out
`)}
}

// scriptCall is one call of a multiScript.
type scriptCall struct {
	script *multiScript
	keys   []string
	args   []any
	cmd    *redis.Cmd // the shared EVALSHA it was sent in
	i      int        // its place in cmd's reply
}

// maxMerged bounds the calls of one EVALSHA, and so how long it blocks
// Redis.
const maxMerged = 64

// addMerged adds to p one EVALSHA per script (per maxMerged calls) for
// calls. Calls of different requests need no order between them, and a
// request has one call in flight at a time. With merge off (a Cluster,
// where the calls' keys live in different slots) each call is an EVALSHA
// of its own.
func addMerged(ctx context.Context, p redis.Pipeliner, calls []*scriptCall, merge bool) {
	if !merge {
		for _, c := range calls {
			addEvalSha(ctx, p, []*scriptCall{c})
		}
		return
	}
	var scripts []*multiScript
	byScript := make(map[*multiScript][]*scriptCall, 4)
	for _, c := range calls {
		if _, ok := byScript[c.script]; !ok {
			scripts = append(scripts, c.script)
		}
		byScript[c.script] = append(byScript[c.script], c)
	}
	for _, s := range scripts {
		for group := range slices.Chunk(byScript[s], maxMerged) {
			addEvalSha(ctx, p, group)
		}
	}
}

// addEvalSha adds one EVALSHA of calls[0].script running every call.
func addEvalSha(ctx context.Context, p redis.Pipeliner, calls []*scriptCall) {
	nkeys, nargs := 0, 0
	for _, c := range calls {
		nkeys += len(c.keys)
		nargs += 2 + len(c.args)
	}
	args := make([]any, 0, 3+nkeys+nargs)
	args = append(args, "evalsha", calls[0].script.script.Hash(), nkeys)
	for _, c := range calls {
		for _, k := range c.keys {
			args = append(args, k)
		}
	}
	for _, c := range calls {
		args = append(args, len(c.keys), len(c.args))
		args = append(args, c.args...)
	}
	cmd := p.Do(ctx, args...)
	for i, c := range calls {
		c.cmd, c.i = cmd, i
	}
}

// runMerged runs one call of s in the next shared pipeline and returns its
// reply: an int64, or an error (a string reply is the body's own failure).
func (r *Redis) runMerged(ctx context.Context, s *multiScript, keys []string, args ...any) (int64, error) {
	c := &scriptCall{script: s, keys: keys, args: args}
	r.batch.doMerged(ctx, c)
	return r.mergedReply(ctx, c)
}

// mergedReply is c's reply, read from the shared EVALSHA it was sent in.
func (r *Redis) mergedReply(ctx context.Context, c *scriptCall) (int64, error) {
	res, err := c.cmd.Slice()
	i := c.i
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache: this call alone, with the source.
		res, err = c.script.script.Eval(ctx, r.client, c.keys, append([]any{len(c.keys), len(c.args)}, c.args...)...).Slice()
		i = 0
	}
	if err != nil {
		return 0, unavailable(err)
	}
	var reply any
	if i < len(res) {
		reply = res[i]
	}
	switch v := reply.(type) {
	case int64:
		return v, nil
	case string:
		return 0, unavailable(fmt.Errorf("redis: %s", v))
	}
	return 0, fmt.Errorf("redis script returned %v", reply)
}
