package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redistest"
)

// deadConfig lets every event die at its first attempt.
const deadConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	{{if .Redis}}webhook_ingress {
		redis {{.Redis}} {
			key_prefix dead:
		}
	}{{end}}
}
:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/down {
			max_attempts 1
			concurrency 2
		}
	}
}`

const (
	deadLetters = 40
	deadSize    = 4 << 20
	// deadRSSBudget is how much one admin call may raise the gateway's RSS.
	deadRSSBudget = 50 << 20
)

// deadEvent is event i's body: deadSize bytes of JSON.
func deadEvent(i int) []byte {
	head := fmt.Sprintf(`{"n":%d,"pad":"`, i)
	return []byte(head + strings.Repeat("x", deadSize-len(head)-2) + `"}`)
}

// failing is a destination that refuses everything and counts the
// attempts per Webhook-Id, without keeping bodies.
type failing struct {
	mu       sync.Mutex
	attempts map[string]int
}

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.attempts[r.Header.Get("Webhook-Id")]++
	f.mu.Unlock()
	w.WriteHeader(http.StatusInternalServerError)
}

func (f *failing) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.attempts))
	for id, n := range f.attempts {
		out[id] = n
	}
	return out
}

// deadLetterJSON is a dead letter as the admin API shows it.
type deadLetterJSON struct {
	ID          string
	Entry       string
	Destination string
	Provider    string
	Attempts    int
	LastError   string    `json:"last_error"`
	Size        int       `json:"size"`
	ReceivedAt  time.Time `json:"received_at"`
	DiedAt      time.Time `json:"died_at"`
	Headers     http.Header
	Body        []byte
}

// adminGet GETs an admin path and returns the status, header and answer.
func adminGet(t *testing.T, g *gateway, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := httpClient.Get(g.AdminURL(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, answer
}

// rssRise runs call and returns how far it raised the gateway's RSS.
func rssRise(t *testing.T, g *gateway, call func()) int64 {
	t.Helper()
	before, err := vmRSS(g.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	stop := rssPeak(g.cmd.Process.Pid)
	call()
	return stop() - before
}

var nextLink = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// TestDeadLetterCallsBounded: with 40 dead letters of 4 MB, listing,
// showing, deleting and redriving one each raise the gateway's RSS by less
// than 50 MB; the listing carries metadata and no body, a page at a time;
// show returns the one event whole; delete and redrive act on exactly the
// event named.
func TestDeadLetterCallsBounded(t *testing.T) {
	for _, name := range []string{"embedded", "redis"} {
		t.Run(name, func(t *testing.T) {
			down := &failing{attempts: map[string]int{}}
			srv := httptest.NewServer(down)
			t.Cleanup(srv.Close)
			vars := gatewayVars{Backend: srv.URL}
			if name == "redis" {
				vars.Redis = redistest.Start(t).URL()
			}
			g := newGateway(t, deadConfig, vars)
			g.Start()
			dest := srv.URL + "/down"
			q := "?destination=" + url.QueryEscape(dest)

			for i := range deadLetters {
				body := deadEvent(i)
				id := fmt.Sprint("dead_", i)
				if status, answer, _ := post(t, g.URL("/hooks"), signedStandard(t, id, time.Now(), body), body); status != http.StatusAccepted {
					t.Fatalf("%s: %d %s", id, status, answer)
				}
			}
			eventually(t, 60*time.Second, "every event dead", func() bool { return g.queue(dest).Dead == deadLetters })

			rises := map[string]int64{}
			// Each call is measured in a fresh process, so that none reuses
			// the heap an earlier one grew; the embedded store rebuilds its
			// index at each start.
			restart := func(dead int64) {
				g.Stop()
				g.Start()
				eventually(t, 60*time.Second, "the store open", func() bool { return g.queue(dest).Dead == dead })
			}

			restart(deadLetters)
			// List: metadata of all 40, no body, in pages.
			var status int
			var header http.Header
			var answer []byte
			rises["list"] = rssRise(t, g, func() { status, header, answer = adminGet(t, g, "/webhook_ingress/dead"+q) })
			var listed []deadLetterJSON
			if status != http.StatusOK || json.Unmarshal(answer, &listed) != nil {
				t.Errorf("list: %d %.300s", status, answer)
			}
			if len(answer) > 64<<10 || bytes.Contains(answer, []byte(`"body"`)) || len(listed) != deadLetters {
				t.Errorf("list: %d dead letters in %d bytes (bodies?): %.300s", len(listed), len(answer), answer)
			}
			if header.Get("Link") != "" {
				t.Errorf("list of everything has a next page: %s", header.Get("Link"))
			}
			seen := map[string]bool{}
			for _, d := range listed {
				seen[d.ID] = true
				if !strings.HasPrefix(d.ID, "dead_") || d.Provider != "standard" || d.Destination != dest || d.Attempts != 1 ||
					!strings.Contains(d.LastError, "500") || d.Size != deadSize || d.Entry == "" ||
					d.ReceivedAt.IsZero() || d.DiedAt.Before(d.ReceivedAt) || d.Body != nil {
					t.Errorf("listed dead letter: %+v", d)
					break
				}
			}
			if len(seen) != deadLetters {
				t.Errorf("%d distinct dead letters listed", len(seen))
			}
			checkPages(t, g, q)

			restart(deadLetters)
			// Show one: its headers and body.
			rises["show"] = rssRise(t, g, func() { status, _, answer = adminGet(t, g, "/webhook_ingress/dead/dead_7"+q) })
			var shown deadLetterJSON
			if status != http.StatusOK || json.Unmarshal(answer, &shown) != nil {
				t.Errorf("show: %d %.300s", status, answer)
			} else if shown.ID != "dead_7" || !bytes.Equal(shown.Body, deadEvent(7)) || shown.Size != deadSize ||
				shown.Headers.Get("Webhook-Signature") == "" || shown.Attempts != 1 {
				t.Errorf("shown dead letter: id %q, %d body bytes (equal: %v), headers %v",
					shown.ID, len(shown.Body), bytes.Equal(shown.Body, deadEvent(7)), shown.Headers)
			}

			restart(deadLetters)
			// Delete one: only that one goes.
			var n map[string]int
			rises["delete"] = rssRise(t, g, func() { status = g.AdminJSON("DELETE", "/webhook_ingress/dead/dead_3"+q, nil, &n) })
			if status != http.StatusOK || n["deleted"] != 1 {
				t.Errorf("delete: %d %v", status, n)
			}
			wantDead(t, g, q, "dead_3")
			if code := g.AdminJSON("GET", "/webhook_ingress/dead/dead_3"+q, nil, nil); code != http.StatusNotFound {
				t.Errorf("show of the deleted one: %d", code)
			}
			if code := g.AdminJSON("DELETE", "/webhook_ingress/dead/dead_3"+q, nil, nil); code != http.StatusNotFound {
				t.Errorf("second delete: %d", code)
			}

			restart(deadLetters - 1)
			// Redrive one: only that one is attempted again (and dies again).
			attempts := down.counts()
			rises["redrive"] = rssRise(t, g, func() {
				status = g.AdminJSON("POST", "/webhook_ingress/dead/redrive", map[string]any{"destination": dest, "ids": []string{"dead_5"}}, &n)
			})
			if status != http.StatusOK || n["redriven"] != 1 {
				t.Errorf("redrive: %d %v", status, n)
			}
			eventually(t, 30*time.Second, "dead_5 attempted again", func() bool { return down.counts()["dead_5"] == 2 })
			eventually(t, 30*time.Second, "dead_5 dead again", func() bool { return g.queue(dest).Dead == deadLetters-1 })
			attempts["dead_5"]++
			if got := down.counts(); fmt.Sprint(got) != fmt.Sprint(attempts) {
				t.Errorf("attempts after redriving dead_5: %v, want %v", got, attempts)
			}
			wantDead(t, g, q, "dead_3")

			for _, call := range []string{"list", "show", "delete", "redrive"} {
				t.Logf("%s: RSS +%.1f MB", call, float64(rises[call])/(1<<20))
				if rises[call] >= deadRSSBudget {
					t.Errorf("%s raised the gateway's RSS by %d MB", call, rises[call]>>20)
				}
			}
		})
	}
}

// checkPages lists the dead letters 15 at a time, following the Link
// header, and expects each one once.
func checkPages(t *testing.T, g *gateway, q string) {
	t.Helper()
	seen := map[string]bool{}
	path, pages := "/webhook_ingress/dead"+q+"&limit=15", 0
	for path != "" && pages < 10 {
		status, header, answer := adminGet(t, g, path)
		var page []deadLetterJSON
		if status != http.StatusOK || json.Unmarshal(answer, &page) != nil {
			t.Fatalf("page %s: %d %.300s", path, status, answer)
		}
		for _, d := range page {
			if seen[d.ID] {
				t.Errorf("%s listed twice", d.ID)
			}
			seen[d.ID] = true
		}
		pages++
		path = ""
		if m := nextLink.FindStringSubmatch(header.Get("Link")); m != nil {
			path = m[1]
		}
	}
	if pages != 3 || len(seen) != deadLetters {
		t.Errorf("%d pages of 15 listed %d dead letters, want 3 pages, %d", pages, len(seen), deadLetters)
	}
}

// wantDead expects every event dead except those named.
func wantDead(t *testing.T, g *gateway, q string, gone ...string) {
	t.Helper()
	var listed []deadLetterJSON
	g.AdminJSON("GET", "/webhook_ingress/dead"+q, nil, &listed)
	have := map[string]bool{}
	for _, d := range listed {
		have[d.ID] = true
	}
	for i := range deadLetters {
		id := fmt.Sprint("dead_", i)
		if want := !strings.Contains(" "+strings.Join(gone, " ")+" ", " "+id+" "); have[id] != want {
			t.Errorf("%s dead: %v, want %v", id, have[id], want)
		}
	}
}
