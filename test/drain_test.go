package test

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drainConfig delivers to a slow backend with concurrency 4, and gives way
// to ingest from the first verified request a second on: the most eager
// setting, so that anything counted as ingest slows the drain.
// {{.Redis}} empty means the embedded store.
const drainConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		yield_to_ingest 1
		{{if .Redis}}redis {{.Redis}} {
			key_prefix drain:
		}{{end}}
	}
}
:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/events {
			concurrency 4
			rate RATE
		}
	}
}`

// fillDrain queues n events through a gateway that lets one a minute out,
// stops it, and returns a gateway on the same store that delivers at
// will, not started yet.
func fillDrain(t *testing.T, be *backend, redisURL, prefix string, n int) (*gateway, ingestCounts) {
	t.Helper()
	vars := gatewayVars{Backend: be.URL, Redis: redisURL}
	filler := newGateway(t, strings.Replace(drainConfig, "RATE", "1/m", 1), vars)
	filler.Start()
	c := ingest(t, filler, "/hooks", prefix, n)
	if c.accepted != n {
		t.Fatalf("%d of %d events accepted", c.accepted, n)
	}
	filler.Stop()
	g := newGateway(t, strings.Replace(drainConfig, "rate RATE", "", 1), vars)
	g.DataDir = filler.DataDir
	return g, c
}

// arrivals records when the backend took each event, by Webhook-Id.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *arrivals) record(r recorded) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at == nil {
		a.at = map[string]time.Time{}
	}
	a.at[r.Header.Get("Webhook-Id")] = time.Now()
}

// span is how long the events of ids that arrived after since took, from
// the first to the last, and how many of ids arrived at all.
func (a *arrivals) span(ids []string, since time.Time) (time.Duration, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first, last time.Time
	n := 0
	for _, id := range ids {
		at, ok := a.at[id]
		if !ok {
			continue
		}
		n++
		if at.Before(since) {
			continue
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return last.Sub(first), n
}

// timeDrain starts g, calls started, and returns how long the backend
// took from the first delivery of c's events to the last. What started
// returns is called before g stops.
func timeDrain(t *testing.T, g *gateway, arr *arrivals, c ingestCounts, started func() func()) time.Duration {
	t.Helper()
	since := time.Now()
	g.Start()
	done := started()
	eventually(t, time.Minute, "every event delivered", func() bool { _, n := arr.span(c.acceptedIDs, since); return n == len(c.acceptedIDs) })
	done()
	g.Stop()
	d, _ := arr.span(c.acceptedIDs, since)
	return d
}

// halfSent opens n connections that each send a signed-looking request's
// headers and part of its body, then nothing: idle senders, as a slow or
// hostile client holds them. It returns what closes them (a graceful stop
// would wait for their requests).
func halfSent(t *testing.T, g *gateway, n int) func() {
	t.Helper()
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := range n {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.HTTP))
		if err != nil {
			closeAll()
			t.Fatal(err)
		}
		conns = append(conns, conn)
		fmt.Fprintf(conn, "POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Webhook-Id: idle_%d\r\nWebhook-Timestamp: %d\r\nWebhook-Signature: v1,AAAA\r\nContent-Length: 1000\r\n\r\n{\"half\":",
			i, time.Now().Unix())
	}
	return closeAll
}

// Idle clients holding half-sent requests do no work, so delivery does not
// give way to them: a drain runs as fast with 8 of them open as with none.
// The gateway gives way from one verified request a second on; with the
// old measure (requests in flight, counted before the body was read) 8
// idle senders made every destination deliver one event at a time.
func TestIdleSendersDoNotSlowDelivery(t *testing.T) {
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		redisURL := vars.Redis
		arr := new(arrivals)
		be.SetStatus(func(_ int, r recorded) int {
			arr.record(r)
			time.Sleep(20 * time.Millisecond)
			return http.StatusOK
		})
		const events, rounds = 200, 5
		var plain, idle []time.Duration
		// Side by side, interleaved, each side by its median round: the
		// machine is shared, and a busy moment slows one drain alone.
		for round := range rounds {
			g, c := fillDrain(t, be, redisURL, fmt.Sprintf("plain%d", round), events)
			plain = append(plain, timeDrain(t, g, arr, c, func() func() { return func() {} }))

			g, c = fillDrain(t, be, redisURL, fmt.Sprintf("idle%d", round), events)
			// The idle senders connect once the gateway listens, and
			// stay for its whole drain.
			idle = append(idle, timeDrain(t, g, arr, c, func() func() { return halfSent(t, g, 8) }))
		}
		slices.Sort(plain)
		slices.Sort(idle)
		ratio := plain[rounds/2].Seconds() / idle[rounds/2].Seconds()
		t.Logf("%d events, concurrency 4, 20 ms a delivery: drained in %v without idle senders, %v with 8 (median rate %.2fx)",
			events, plain, idle, ratio)
		if ratio < 0.9 {
			t.Errorf("8 idle half-sent requests slowed the drain to %.2fx of its rate without them, want >= 0.9", ratio)
		}
	})
}

// A destination that slows down gets at most `concurrency` requests at
// once, however many events are fetched ahead of them.
func TestSlowDestinationGetsAtMostConcurrency(t *testing.T) {
	withEachStore(t, func(t *testing.T, be *backend, vars gatewayVars) {
		redisURL := vars.Redis
		arr := new(arrivals)
		var inFlight, peak atomic.Int32
		be.SetStatus(func(_ int, r recorded) int {
			arr.record(r)
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(200 * time.Millisecond)
			return http.StatusOK
		})
		g, c := fillDrain(t, be, redisURL, "slow", 24)
		timeDrain(t, g, arr, c, func() func() { return func() {} })
		if p := peak.Load(); p > 4 {
			t.Errorf("%d requests at once at the destination, concurrency is 4", p)
		} else {
			t.Logf("at most %d requests at once at the destination, concurrency 4", p)
		}
	})
}
