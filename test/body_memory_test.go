package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The gateway's memory must follow the bytes a sender has sent, not the
// Content-Length it declared: each attacker below declares 10,000,000 bytes
// (under the default max_body) and sends one.
const declaredLengthConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	metrics
	servers {
		protocols h1 h2c
	}
}
:{{.HTTP}} {
	handle /verify {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		reverse_proxy {{.Backend}}
	}
	handle /queue {
		webhook_forward {{.Backend}}/events
	}
}`

const (
	declaredLength = 10_000_000
	// maxAttackRSS is what one attack may add to the gateway's RSS; before
	// buffers grew with the bytes received, the HTTP/1.1 attack alone
	// added about a gigabyte.
	maxAttackRSS = 50 << 20
)

func TestDeclaredLengthDoesNotReserveMemory(t *testing.T) {
	be := newBackend(t)
	attacks := []struct {
		name string
		path string // /verify or /queue: webhook_verify or webhook_forward reads the body
		h2c  bool
		n    int
	}{
		{"http1 verify", "/verify", false, 100},
		{"http1 forward", "/queue", false, 100},
		{"h2c verify", "/verify", true, 250},
		{"h2c forward", "/queue", true, 250},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			// A fresh gateway: no garbage of an earlier attack in its heap.
			g := newGateway(t, declaredLengthConfig, gatewayVars{Backend: be.URL})
			g.Start()
			open := g.http1Senders
			if a.h2c {
				open = g.h2cSenders
			}
			before, err := vmRSS(g.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			heapBefore := metricValue(g.metrics(), "go_memstats_heap_alloc_bytes")
			peak := rssPeak(g.cmd.Process.Pid)
			closeAll := open(a.n)(t, a.path)
			// Every request has reached the handler that reads its body.
			eventually(t, 30*time.Second, fmt.Sprintf("%d requests in %s", a.n, a.path), func() bool {
				return metricValue(g.metrics(), "caddy_http_requests_in_flight", `server="srv0"`) >= float64(a.n)
			})
			// A handler allocates its buffer on entry, before it blocks on
			// the body. The heap shows at once what the attack reserved;
			// the RSS follows as the pages are touched (at once when a
			// reused span is zeroed, which is what a long attack meets).
			heapGrown := int64(metricValue(g.metrics(), "go_memstats_heap_alloc_bytes") - heapBefore)
			now, err := vmRSS(g.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			grown := max(peak(), now) - before
			closeAll()
			t.Logf("%d senders declaring %d bytes and sending 1: heap grew by %d MB, RSS by %d MB",
				a.n, declaredLength, heapGrown>>20, grown>>20)
			if heapGrown > maxAttackRSS || grown > maxAttackRSS {
				t.Errorf("heap grew by %d MB and RSS by %d MB, want both under %d MB", heapGrown>>20, grown>>20, maxAttackRSS>>20)
			}
			eventually(t, 30*time.Second, "the attack's requests to end", func() bool {
				return metricValue(g.metrics(), "caddy_http_requests_in_flight", `server="srv0"`) == 0
			})
			// The gateway still serves a genuine webhook.
			body := []byte(`{"type":"after.attack"}`)
			if status, answer, _ := post(t, g.URL("/verify"), signedStandard(t, "msg_"+a.path[1:], time.Now(), body), body); status != http.StatusOK {
				t.Fatalf("after the attack: %d %s", status, answer)
			}
		})
	}
}

// http1Senders opens n HTTP/1.1 connections, each sending the headers of a
// POST that declares declaredLength bytes, and one byte of it.
func (g *gateway) http1Senders(n int) func(t *testing.T, path string) func() {
	return func(t *testing.T, path string) func() {
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.HTTP))
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
				path, declaredLength)
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
		}
		return func() {
			for _, c := range conns {
				c.Close()
			}
		}
	}
}

// h2cSenders opens one cleartext HTTP/2 connection carrying n streams, each
// a POST declaring declaredLength bytes that sends one.
func (g *gateway) h2cSenders(n int) func(t *testing.T, path string) func() {
	return func(t *testing.T, path string) func() {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &protocols}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range n {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL(path), &oneByteThenWait{done: ctx.Done()})
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = declaredLength
			req.Header.Set("Content-Type", "application/json")
			wg.Go(func() {
				if resp, err := tr.RoundTrip(req); err == nil {
					resp.Body.Close()
				}
			})
		}
		return func() {
			cancel()
			wg.Wait()
			tr.CloseIdleConnections()
		}
	}
}

// oneByteThenWait is a request body that sends one byte and then nothing
// until done.
type oneByteThenWait struct {
	sent bool
	done <-chan struct{}
}

func (b *oneByteThenWait) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "{"), nil
	}
	<-b.done
	return 0, io.ErrUnexpectedEOF
}
