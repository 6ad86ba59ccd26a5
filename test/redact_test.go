package test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The credentials of destinations and Redis URLs used below; none of them
// may appear in what the gateway shows.
const (
	credUser     = "hookuser"
	credPassword = "s3cr3tpass"
)

const credForwardConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /cred {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/x {
			to http://` + credUser + `:` + credPassword + `@127.0.0.1:DOWNPORT/down
			max_attempts 2
			backoff 10ms 20ms
		}
	}
}`

func hidesCredentials(t *testing.T, where, s string) {
	t.Helper()
	if strings.Contains(s, credPassword) || strings.Contains(s, credUser) {
		t.Errorf("%s shows credentials:\n%s", where, s)
	}
}

// A destination's user:pass@ reaches the destination and is shown nowhere:
// not in /metrics, the admin API's queues, the CLI or the log (a delivery
// error and a dead letter included).
func TestDestinationCredentialsNeverShown(t *testing.T) {
	be := newBackend(t)
	down := freePort(t) // nothing listens: network errors, then a dead letter
	vars := gatewayVars{Backend: strings.Replace(be.URL, "http://", "http://"+credUser+":"+credPassword+"@", 1)}
	g := newGateway(t, strings.Replace(credForwardConfig, "DOWNPORT", strconv.Itoa(down), 1), vars)
	g.Start()

	body := []byte(`{"type":"video.asset.ready"}`)
	if status, resp, _ := post(t, g.URL("/cred"), signedStandard(t, "msg_cred", time.Now(), body), body); status != 202 {
		t.Fatalf("post: %d %s", status, resp)
	}
	eventually(t, 10*time.Second, "the delivery", func() bool { return len(be.successes()) == 1 })
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(credUser+":"+credPassword))
	if got := be.successes()[0].Header.Get("Authorization"); got != want {
		t.Errorf("the destination got Authorization %q, want its credentials", got)
	}
	redactedDown := "http://xxxxx@127.0.0.1:" + strconv.Itoa(down) + "/down"
	eventually(t, 10*time.Second, "the dead letter", func() bool {
		return metricValue(g.metrics(), "caddy_webhook_deliveries_total", `result="dead"`) == 1
	})
	eventually(t, 15*time.Second, "the queue gauges", func() bool {
		return strings.Count(g.metrics(), "\ncaddy_webhook_dead_letters{") == 2
	})

	m := g.metrics()
	if !strings.Contains(m, `caddy_webhook_deliveries_total{destination="http://xxxxx@`+strings.TrimPrefix(be.URL, "http://")+`/x",result="delivered"} 1`) {
		t.Errorf("no delivered count under the redacted destination:\n%s", grepLines(m, "caddy_webhook_deliveries_total"))
	}
	hidesCredentials(t, "/metrics", grepLines(m, "caddy_webhook_"))

	resp, err := httpClient.Get(g.AdminURL("/webhook_ingress/queues"))
	if err != nil {
		t.Fatal(err)
	}
	var queues []struct{ Destination string }
	if err := json.NewDecoder(resp.Body).Decode(&queues); err != nil || len(queues) != 2 {
		t.Fatalf("queues: %v %+v", err, queues)
	}
	resp.Body.Close()
	for _, q := range queues {
		if !strings.HasPrefix(q.Destination, "http://xxxxx@127.0.0.1:") {
			t.Errorf("queues: destination %q", q.Destination)
		}
		hidesCredentials(t, "GET /webhook_ingress/queues", q.Destination)
	}

	out, err := exec.Command(caddyBin, "webhook", "queues", "--admin", "localhost:"+strconv.Itoa(g.Admin)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "xxxxx@127.0.0.1") {
		t.Errorf("caddy webhook queues: %v\n%s", err, out)
	}
	hidesCredentials(t, "caddy webhook queues", string(out))

	if !g.logged("dead letter", redactedDown) {
		t.Errorf("no dead-letter log line naming the redacted destination:\n%s", g.logs)
	}
	hidesCredentials(t, "the log", g.logs.String())
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A config refused for its Redis URL or a destination never prints the
// password, whether it comes from a Caddyfile or JSON.
func TestConfigErrorsHideCredentials(t *testing.T) {
	redisPort := strconv.Itoa(freePort(t))
	for name, cfg := range map[string]string{
		"Caddyfile redis URL": `{
	webhook_ingress {
		redis http://default:` + credPassword + `@127.0.0.1:` + redisPort + `/0
	}
}
:0 {
	respond ok
}`,
		"JSON redis URL": `{"apps": {"webhook_ingress": {"redis": {"url": "tcp://default:` + credPassword + `@127.0.0.1:` + redisPort + `/0"}}}}`,
		"destination": `:0 {
	webhook_forward ftp://` + credUser + `:` + credPassword + `@127.0.0.1:21/x
}`,
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "Caddyfile")
			args := []string{"validate", "--config", file}
			if strings.HasPrefix(cfg, `{"apps"`) {
				file += ".json"
				args[2] = file
			} else {
				args = append(args, "--adapter", "caddyfile")
			}
			if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(caddyBin, args...)
			cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("caddy validate accepted it:\n%s", out)
			}
			if !strings.Contains(string(out), "xxxxx@127.0.0.1:") {
				t.Errorf("the error does not name the URL without its credentials:\n%s", out)
			}
			hidesCredentials(t, "caddy validate", string(out))
		})
	}
}
