package deliver

import (
	"context"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// delivered is an entry whose attempt succeeded, waiting to be
// acknowledged.
type delivered struct {
	dl  store.Delivery
	out Outcome
}

// maxAckBatch bounds the acknowledgements of one queue call.
const maxAckBatch = 256

// ackLoop acknowledges delivered entries until acks is closed: all those
// that arrived while the previous call was in flight go in one call, so
// that a drain costs one queue round trip per batch of deliveries, and the
// senders go on to the next delivery without waiting for it. An outcome is
// reported once its acknowledgement is recorded.
func (w *Worker) ackLoop(q store.ManyAcker, acks <-chan delivered) {
	batch := make([]delivered, 0, maxAckBatch)
	ds := make([]store.Delivery, 0, maxAckBatch)
	for first := range acks {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxAckBatch {
			select {
			case a, ok := <-acks:
				if !ok {
					break fill
				}
				batch = append(batch, a)
			default:
				break fill
			}
		}
		ds = ds[:0]
		for _, a := range batch {
			ds = append(ds, a.dl)
		}
		ctx, cancel := context.WithTimeout(context.Background(), queueOpTimeout)
		// A failed acknowledgement leaves the entries to their lease:
		// delivered again later, at least once.
		w.queueErrs.record(q.AckMany(ctx, ds))
		cancel()
		for _, a := range batch {
			w.observe(a.out)
			w.logFinal(a.out)
		}
	}
}
