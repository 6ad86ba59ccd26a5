package test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials that authorize by themselves: each would let whoever reads it
// post to the gateway as the sender.
const (
	credHeaderToken = "cred-header-token-5f1d"
	credQueryToken  = "cred-query-token-9a2c"
	credBasic       = "hookuser:cred-basic-pass-77e0"
	credGitlab      = "cred-gitlab-token-c3b8"
)

// credentialsHead has Caddy's access log on, with docs/configuration.md's filter: it
// records the request as it arrived.
const credentialsHead = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	log {
		format filter {
			request>headers>X-Gitlab-Token delete
			request>headers>X-Hook-Token delete
			request>uri query {
				delete key
			}
		}
	}
`

// credentialRoute is a webhook_verify block and a request it accepts.
type credentialRoute struct {
	name, verify string
	query        string
	header       map[string]string
	wantURI      string // the request URI the backend sees (sync)
}

func credentialRoutes() []credentialRoute {
	return []credentialRoute{
		{"token", "token {\n\t\t\tsecret " + credHeaderToken + "\n\t\t\theader X-Hook-Token\n\t\t}",
			"?tenant=1", map[string]string{"X-Hook-Token": credHeaderToken}, "/sync/token?tenant=1"},
		{"query", "token {\n\t\t\tsecret " + credQueryToken + "\n\t\t\tquery key\n\t\t}",
			"?a=1&key=" + credQueryToken + "&b=%20x", nil, "/sync/query?a=1&b=%20x"},
		{"basic", "basic {\n\t\t\tsecret " + credBasic + "\n\t\t}",
			"", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(credBasic))}, "/sync/basic"},
		{"gitlab", "gitlab {\n\t\t\tsecret " + credGitlab + "\n\t\t}",
			"", map[string]string{"X-Gitlab-Token": credGitlab, "X-Gitlab-Event": "Push Hook"}, "/sync/gitlab"},
	}
}

// credentialsConfig puts each route in front of the backend (sync) and of
// webhook_forward (async).
func credentialsConfig(routes []credentialRoute) string {
	var b strings.Builder
	b.WriteString(credentialsHead)
	for _, rt := range routes {
		fmt.Fprintf(&b, "\thandle /sync/%s {\n\t\twebhook_verify %s\n\t\treverse_proxy {{.Backend}}\n\t}\n", rt.name, rt.verify)
		fmt.Fprintf(&b, "\thandle /async/%s {\n\t\twebhook_verify %s\n\t\twebhook_forward {{.Backend}}/queued/%s\n\t}\n", rt.name, rt.verify, rt.name)
	}
	b.WriteString("}\n")
	return b.String()
}

// uriBackend records what reaches it, query included.
type uriBackend struct {
	URL  string
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	URI    string
	Header http.Header
}

func newURIBackend(t *testing.T) *uriBackend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &uriBackend{URL: "http://" + l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.mu.Lock()
		b.seen = append(b.seen, seenRequest{URI: r.RequestURI, Header: r.Header.Clone()})
		b.mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func (b *uriBackend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

// TestCredentialsStayAtTheEdge: after verification the credential is gone
// from what the backend sees, from the queued and delivered event, from the
// store's files and from the logs; the rest of the request is untouched.
func TestCredentialsStayAtTheEdge(t *testing.T) {
	be := newURIBackend(t)
	routes := credentialRoutes()
	g := newGateway(t, credentialsConfig(routes), gatewayVars{Backend: be.URL})
	g.Start()

	for _, mode := range []string{"sync", "async"} {
		for i, rt := range routes {
			h := map[string]string{"Idempotency-Key": fmt.Sprintf("%s-%d", mode, i)}
			for k, v := range rt.header {
				h[k] = v
			}
			body := []byte(fmt.Sprintf(`{"route":%q,"mode":%q}`, rt.name, mode))
			status, resp, _ := post(t, g.URL("/"+mode+"/"+rt.name+rt.query), h, body)
			want := http.StatusOK
			if mode == "async" {
				want = http.StatusAccepted
			}
			if status != want {
				t.Fatalf("%s %s: %d %s, want %d", mode, rt.name, status, resp, want)
			}
		}
	}
	eventually(t, 10*time.Second, "4 passed on and 4 delivered", func() bool { return len(be.requests()) == 8 })

	secrets := []string{credHeaderToken, credQueryToken, "cred-basic-pass-77e0",
		base64.StdEncoding.EncodeToString([]byte(credBasic)), credGitlab}
	for _, r := range be.requests() {
		for _, name := range []string{"X-Hook-Token", "Authorization", "X-Gitlab-Token"} {
			if v := r.Header.Get(name); v != "" {
				t.Errorf("%s reached the backend with %s: %q", r.URI, name, v)
			}
		}
		if strings.Contains(r.URI, "key=") {
			t.Errorf("%s reached the backend with the token in the URL", r.URI)
		}
		if strings.HasSuffix(r.URI, "gitlab") && r.Header.Get("X-Gitlab-Event") != "Push Hook" {
			t.Errorf("%s: other headers were lost: %v", r.URI, r.Header)
		}
	}
	for _, rt := range routes {
		if !slicesContainURI(be.requests(), rt.wantURI) {
			t.Errorf("the backend never saw %s; it saw %v", rt.wantURI, be.requests())
		}
	}
	if !slicesContainURI(be.requests(), "/queued/gitlab") {
		t.Error("the gitlab event was not delivered")
	}

	// Nothing at rest or in the logs holds a credential either.
	g.Stop()
	err := filepath.Walk(g.DataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds a credential (%.8s…)", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := g.logs.String()
	if !strings.Contains(logs, `"uri":"/sync/query?`) {
		t.Errorf("no access log line for the query route: the log check proves nothing\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the gateway's logs hold a credential (%.8s…)", s)
		}
	}
}

func slicesContainURI(rs []seenRequest, uri string) bool {
	for _, r := range rs {
		if r.URI == uri {
			return true
		}
	}
	return false
}
