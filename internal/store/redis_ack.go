package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// ManyAcker is a Queue that removes several delivered entries at once (in
// Redis one script call, in the embedded store one write); a worker
// acknowledges what its senders delivered meanwhile together.
type ManyAcker interface {
	AckMany(ctx context.Context, ds []Delivery) error
}

// ackManyScript acknowledges and deletes the entries ARGV[2..] of the
// stream KEYS[1] for the group ARGV[1]: a batch of deliveries costs Redis
// one XACK and one XDEL.
var ackManyScript = redis.NewScript(`
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
`)

// maxAckBatch bounds the entries of one ackManyScript call (unpack's
// limit is in the thousands) and so how long it blocks Redis.
const maxAckBatch = 256

// Ack removes the entry.
func (r *Redis) Ack(ctx context.Context, d Delivery) error {
	return r.AckMany(ctx, []Delivery{d})
}

// AckMany removes the entries, one script call per destination and
// maxAckBatch entries: a draining worker acknowledges what its senders
// delivered meanwhile in one round trip.
func (r *Redis) AckMany(ctx context.Context, ds []Delivery) error {
	for len(ds) > 0 {
		dest := ds[0].Destination
		args := make([]any, 1, 1+min(len(ds), maxAckBatch))
		args[0] = consumerGroup
		n := 0
		for n < len(ds) && n < maxAckBatch && ds[n].Destination == dest {
			entry, _ := splitHandle(ds[n].Handle)
			args = append(args, entry)
			n++
		}
		if err := ackManyScript.Run(ctx, r.client, []string{r.queueKeys(dest).stream}, args...).Err(); err != nil {
			return unavailable(err)
		}
		ds = ds[n:]
	}
	return nil
}
