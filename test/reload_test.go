package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"regexp"
	"strconv"
	"strings"
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

// goroutines counts the gateway's goroutines whose stack is in this module,
// go-redis, from Caddy's pprof endpoint. (reverse_proxy's idle
// upstream connections of old configs linger until their idle timeout; they
// are Caddy's, not ours.)
func (g *gateway) goroutines() int {
	g.t.Helper()
	n := 0
	for _, group := range strings.Split(goroutineDump(g.t, g), "\n\n") {
		if !strings.Contains(group, "webhook-ingress") && !strings.Contains(group, "go-redis") {
			continue
		}
		if m := regexp.MustCompile(`^(\d+) @`).FindStringSubmatch(group); m != nil {
			c, _ := strconv.Atoi(m[1])
			n += c
		}
	}
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

// Ten reloads under load: every request answered 200 reached the internal
// service exactly once, no request gets an error status, and neither
// goroutines nor Redis connections pile up. (A keep-alive connection the old
// server closes mid-request is reset; the sender retries, as providers do.)
func TestReloadUnderLoadLeaksNothing(t *testing.T) {
	redis := redistest.Start(t)
	be := newBackend(t)
	vars := gatewayVars{Backend: be.URL, Redis: redis.URL()}
	g := newGateway(t, redisVerifyConfig, vars)
	g.Start()

	warm := []byte(`{"warm":1}`)
	post(t, g.URL("/standard"), signedStandard(t, "msg_warm", time.Now(), warm), warm)
	baseGoroutines := g.goroutines()

	var sent, ok, reset atomic.Int64
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
				status, resp, _, err := tryPost(g.URL("/standard"), signedStandard(t, id, time.Now(), body), body)
				switch {
				case err != nil:
					reset.Add(1)
				case status == 200:
					ok.Add(1)
				default:
					t.Errorf("during reloads: %d %s", status, resp)
				}
			}
		}(w)
	}
	// go-redis grows its pool to the load; count clients once it has.
	underLoad := func(answers int64) {
		from := ok.Load()
		eventually(t, 30*time.Second, "answers under load", func() bool { return ok.Load() >= from+answers })
	}
	underLoad(100)
	baseClients := redisClients(t, redis)
	for i := 0; i < 10; i++ {
		g.Reload(redisVerifyConfig, vars)
		underLoad(20) // traffic between reloads
	}
	close(stop)
	wg.Wait()
	// A reset request may or may not have reached the service before the
	// connection went; an answered one must have, exactly once.
	if got := int64(len(be.Requests())); got < ok.Load() || got > ok.Load()+reset.Load() {
		t.Errorf("backend got %d requests; %d were answered 200, %d reset", got, ok.Load(), reset.Load())
	}
	seen := map[string]bool{}
	for _, r := range be.Requests() {
		if id := r.Header.Get("Webhook-Id"); seen[id] {
			t.Errorf("event %s reached the backend twice", id)
		} else {
			seen[id] = true
		}
	}
	// The last old config may still be stopping: allow it a few seconds.
	var n, c int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n, c = g.goroutines(), redisClients(t, redis)
		if n <= baseGoroutines+2 && c <= baseClients+4 || time.Now().After(deadline) {
			break
		}
	}
	if n > baseGoroutines+2 || c > baseClients+4 {
		t.Errorf("after 10 reloads: %d goroutines (was %d), %d Redis clients (was %d)", n, baseGoroutines, c, baseClients)
		t.Log(goroutineDump(t, g))
	}
	t.Logf("sent %d, ok %d, connection reset %d; goroutines %d -> %d; redis clients %d -> %d",
		sent.Load(), ok.Load(), reset.Load(), baseGoroutines, g.goroutines(), baseClients, redisClients(t, redis))
}

func goroutineDump(t testing.TB, g *gateway) string {
	resp, err := httpClient.Get(g.AdminURL("/debug/pprof/goroutine?debug=1"))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// redisAuthConfig is redisVerifyConfig on a Redis that needs a password,
// with the given password and db.
func redisAuthConfig(password string, db int) string {
	return strings.Replace(redisVerifyConfig, "key_prefix e2e:",
		"key_prefix e2e:\n\t\t\tpassword "+password+"\n\t\t\tdb "+strconv.Itoa(db), 1)
}

// A reload uses the Redis settings it was given: after the password is
// rotated in Redis (and the old sessions end), a reload with the new
// password serves requests; a reload to another db writes there.
func TestReloadAppliesRedisSettings(t *testing.T) {
	redis := redistest.Start(t, redistest.WithPassword("first-password"))
	be := newBackend(t)
	vars := gatewayVars{Backend: be.URL, Redis: redis.URL()}
	g := newGateway(t, redisAuthConfig("first-password", 0), vars)
	g.Start()

	send := func(id string) {
		t.Helper()
		body := []byte(`{"id":"` + id + `"}`)
		// A reload closes the old server's keep-alive connections.
		httpClient.CloseIdleConnections()
		if status, resp, _ := post(t, g.URL("/standard"), signedStandard(t, id, time.Now(), body), body); status != 200 {
			t.Fatalf("%s: %d %s\n%s", id, status, resp, g.logs)
		}
	}
	send("msg_first")

	if err := redis.SetPassword("second-password"); err != nil {
		t.Fatal(err)
	}
	g.Reload(redisAuthConfig("second-password", 0), vars)
	// Whatever connections the old client still holds are dropped: a client
	// that kept the old password cannot log in again.
	if err := redis.KillClients(); err != nil {
		t.Fatal(err)
	}
	send("msg_rotated")

	dbSize := func(db int) int {
		n, err := redis.DoDB(db, "DBSIZE")
		if err != nil {
			t.Fatal(err)
		}
		size, _ := strconv.Atoi(n)
		return size
	}
	if n := dbSize(1); n != 0 {
		t.Fatalf("db 1 has %d keys before the reload", n)
	}
	g.Reload(redisAuthConfig("second-password", 1), vars)
	send("msg_db1")
	// The nonce and the dedup key (committed just after the answer).
	eventually(t, 10*time.Second, "the claim's keys in db 1", func() bool { return dbSize(1) >= 2 })
}
