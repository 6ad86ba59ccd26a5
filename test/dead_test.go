package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
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
	handle /fanout {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/a {{.Backend}}/b {
			max_attempts 1
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
	t.Parallel()
	for _, name := range []string{"embedded", "redis"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
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
			checkDeadCLI(t, g, dest)
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

// checkDeadCLI runs `caddy webhook dead` as a user would: a page and the
// next, one dead letter shown and deleted.
func checkDeadCLI(t *testing.T, g *gateway, dest string) {
	t.Helper()
	run := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		args = append([]string{"webhook", "dead"}, args...)
		cmd := exec.Command(caddyBin, append(args, "--admin", strings.TrimPrefix(g.AdminURL(""), "http://"), "--destination", dest)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := run("--limit", "15")
	next, _ := strings.CutPrefix(strings.TrimSpace(errOut), "more: --after ")
	if err != nil || strings.Count(out, "\n") != 16 || !strings.Contains(out, "status 500") || next == "" {
		t.Fatalf("dead --limit 15: %v\n%s%s", err, out, errOut)
	}
	if out2, _, err := run("--limit", "15", "--after", next); err != nil || strings.Count(out2, "\n") != 16 || out2 == out {
		t.Errorf("dead --after %s: %v\n%s", next, err, out2)
	}
	if body, _, err := run("show", "dead_7", "--body"); err != nil || body != string(deadEvent(7)) {
		t.Errorf("dead show --body: %v, %d bytes", err, len(body))
	}
	if shown, _, err := run("show", "dead_7"); err != nil || !strings.Contains(shown, "id:          dead_7\n") ||
		!strings.Contains(shown, "Webhook-Signature: v1,") || !strings.HasSuffix(shown, `"}`) {
		t.Errorf("dead show: %v\n%.600s", err, shown)
	}
	if out, _, err := run("delete", "dead_9"); err != nil || out != "deleted: 1\n" {
		t.Errorf("dead delete: %v %s", err, out)
	}
	if _, errOut, err := run("show", "dead_9"); err == nil || !strings.Contains(errOut, "404") {
		t.Errorf("dead show of a deleted one: %v %s", err, errOut)
	}
}

// TestDeadLetterAmbiguousAndBad: an id that died at two destinations is
// shown only once a destination is named, and deleted at both; bad limits
// and cursors are refused.
func TestDeadLetterAmbiguousAndBad(t *testing.T) {
	down := &failing{attempts: map[string]int{}}
	srv := httptest.NewServer(down)
	t.Cleanup(srv.Close)
	g := newGateway(t, deadConfig, gatewayVars{Backend: srv.URL})
	g.Start()
	body := []byte(`{"type":"both"}`)
	if status, answer, _ := post(t, g.URL("/fanout"), signedStandard(t, "both", time.Now(), body), body); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, answer)
	}
	eventually(t, 30*time.Second, "dead at both", func() bool {
		return g.queue(srv.URL+"/a").Dead == 1 && g.queue(srv.URL+"/b").Dead == 1
	})
	status, _, answer := adminGet(t, g, "/webhook_ingress/dead/both")
	if status != http.StatusConflict || !strings.Contains(string(answer), srv.URL+"/a") || !strings.Contains(string(answer), srv.URL+"/b") {
		t.Errorf("show of an id dead at two destinations: %d %s", status, answer)
	}
	var shown deadLetterJSON
	if code := g.AdminJSON("GET", "/webhook_ingress/dead/both?destination="+url.QueryEscape(srv.URL+"/b"), nil, &shown); code != http.StatusOK ||
		shown.Destination != srv.URL+"/b" || string(shown.Body) != string(body) {
		t.Errorf("show at b: %d %+v", code, shown)
	}
	if code := g.AdminJSON("GET", "/webhook_ingress/dead/"+shown.Entry+"?destination="+url.QueryEscape(srv.URL+"/b"), nil, nil); code != http.StatusOK {
		t.Errorf("show by entry: %d", code)
	}
	for _, bad := range []struct {
		path string
		want int
	}{
		{"/webhook_ingress/dead?limit=1001", http.StatusBadRequest},
		{"/webhook_ingress/dead?after=nonsense", http.StatusBadRequest},
		{"/webhook_ingress/dead?after=0123456789abcdef:1", http.StatusBadRequest},
		{"/webhook_ingress/dead/", http.StatusBadRequest},
		{"/webhook_ingress/dead/nothing", http.StatusNotFound},
	} {
		if status, _, answer := adminGet(t, g, bad.path); status != bad.want {
			t.Errorf("GET %s: %d %s, want %d", bad.path, status, answer, bad.want)
		}
	}
	var n map[string]int
	if code := g.AdminJSON("DELETE", "/webhook_ingress/dead/both", nil, &n); code != http.StatusOK || n["deleted"] != 2 {
		t.Errorf("delete at both: %d %v", code, n)
	}
}
