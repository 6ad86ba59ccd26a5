package deliver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// ackOnly is a queue that forgets every acknowledged delivery.
type ackOnly struct{ store.Queue }

func (ackOnly) Ack(context.Context, store.Delivery) error { return nil }

// BenchmarkDeliveryRoundTrip measures one attempt: building the request,
// signing it, the HTTP round trip over a kept-alive connection, the Ack.
func BenchmarkDeliveryRoundTrip(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "plain"
		if signed {
			name = "signed"
		}
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			d := testDestination(srv.URL)
			if signed {
				d.SignSecret = vectorSecret
			}
			w := NewWorker(ackOnly{}, d, "bench", srv.Client(), nil, nil)
			ev := testEvent("evt_bench")
			ev.Body = make([]byte, 1024)
			dl := store.Delivery{Event: ev, Destination: srv.URL, Handle: "1"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				w.attempt(ctx, fetched{dl, time.Now()}, nil)
			}
		})
	}
}
