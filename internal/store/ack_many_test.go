package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// AckMany removes every entry it names, as Ack does one by one, in both
// stores; an entry leased again meanwhile is removed too (it was
// delivered), and the rest of the queue stays.
func TestAckMany(t *testing.T) {
	for _, b := range []backend{logBackend(), redisBackend(redistest.Start(t))} {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			const dest = "http://svc/events"
			for i := range 5 {
				ev := Event{ID: fmt.Sprintf("evt_%d", i), Provider: "github", Body: []byte("{}"), ReceivedAt: time.Now()}
				must(t, s.Enqueue(ctx, Claim{}, []string{dest}, ev))
			}
			got, err := s.Fetch(ctx, dest, "c", 5, time.Minute)
			must(t, err)
			if len(got) != 5 {
				t.Fatalf("fetched %d of 5", len(got))
			}
			must(t, s.(ManyAcker).AckMany(ctx, got[:3]))
			st, err := s.Stats(ctx, dest)
			must(t, err)
			if st.Queued+st.InFlight != 2 {
				t.Errorf("after acknowledging 3 of 5: %+v", st)
			}
			if err := s.(ManyAcker).AckMany(ctx, []Delivery{{Destination: dest, Handle: "not a handle"}}); err == nil && b.name == "embedded" {
				t.Error("an invalid handle was acknowledged")
			}
			must(t, s.(ManyAcker).AckMany(ctx, got[3:]))
			st, err = s.Stats(ctx, dest)
			must(t, err)
			if st.Queued+st.InFlight != 0 {
				t.Errorf("after acknowledging all: %+v", st)
			}
		})
	}
}
