package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// goroutines reads the gateway's goroutine count from Caddy's pprof endpoint.
func (g *gateway) goroutines() int {
	g.t.Helper()
	resp, err := httpClient.Get(g.AdminURL("/debug/pprof/goroutine?debug=1"))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`goroutine profile: total (\d+)`).FindSubmatch(b)
	if m == nil {
		g.t.Fatalf("no goroutine count in %q", b[:min(len(b), 200)])
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func redisClients(t testing.TB, r *redistest.Server) int {
	t.Helper()
	info, err := r.Do("INFO", "clients")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`connected_clients:(\d+)`).FindStringSubmatch(info)
	n, _ := strconv.Atoi(m[1])
	return n
}

// Ten reloads under load: no request fails, none is lost, and neither
// goroutines nor Redis connections pile up.
func TestReloadUnderLoadLeaksNothing(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	vars := gatewayVars{Backend: be.URL, Redis: redis.URL()}
	g := newGateway(t, redisVerifyConfig, vars)
	g.Start()

	var sent, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := []byte(`{"worker":` + strconv.Itoa(w) + `,"i":` + strconv.Itoa(i) + `}`)
				id := "msg_reload_" + strconv.Itoa(w) + "_" + strconv.Itoa(i)
				sent.Add(1)
				if status, _, _ := post(t, g.URL("/standard"), signedStandard(t, id, time.Now(), body), body); status == 200 {
					ok.Add(1)
				}
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond)
	baseGoroutines, baseClients := g.goroutines(), redisClients(t, redis)
	for i := 0; i < 10; i++ {
		g.Reload(redisVerifyConfig, vars)
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if sent.Load() != ok.Load() {
		t.Errorf("%d of %d requests failed during reloads", sent.Load()-ok.Load(), sent.Load())
	}
	if got := int64(len(be.Requests())); got != ok.Load() {
		t.Errorf("backend got %d requests, %d were answered 200", got, ok.Load())
	}
	time.Sleep(time.Second) // let the last old config finish stopping
	if g, c := g.goroutines(), redisClients(t, redis); g > baseGoroutines+20 || c > baseClients+4 {
		t.Errorf("after 10 reloads: %d goroutines (was %d), %d Redis clients (was %d)", g, baseGoroutines, c, baseClients)
	}
	t.Logf("sent %d, ok %d; goroutines %d -> %d; redis clients %d -> %d",
		sent.Load(), ok.Load(), baseGoroutines, g.goroutines(), baseClients, redisClients(t, redis))
}
