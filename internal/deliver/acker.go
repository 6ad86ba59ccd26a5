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

// ackBatch acknowledges, in one queue call, the delivered entries waiting
// in acks (at least one, at most maxAckBatch): those that arrived while
// the previous call was in flight go together, so that a drain costs one
// queue round trip per batch of deliveries, and the senders go on to the
// next delivery without waiting for it. An outcome is reported once its
// acknowledgement is recorded.
func (w *Worker) ackBatch(q store.ManyAcker, acks <-chan delivered) {
	batch := make([]delivered, 0, min(len(acks), maxAckBatch))
	ds := make([]store.Delivery, 0, cap(batch))
	for len(batch) < maxAckBatch {
		select {
		case a := <-acks:
			batch = append(batch, a)
			ds = append(ds, a.dl)
			continue
		default:
		}
		break
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
