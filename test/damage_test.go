package test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const damageConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret ` + standardSecret + `
		}
		webhook_forward {{.Backend}}/events {
			max_attempts 1000
			backoff 100ms 500ms
		}
	}
	handle /other {
		respond "other site up"
	}
}`

// TestChaosDamagedLogKeepsServing: events are queued in the embedded store while
// their destination is down; with Caddy stopped, a byte in the middle of
// the log (inside one queued event) is flipped, or a garbage file lies
// before the log as a sealed segment. Caddy starts, serves its other
// sites, delivers every event but the damaged one, logs the damage (file
// and offset, never the bytes), counts it, and keeps a copy of the damaged
// bytes beside the log.
func TestChaosDamagedLogKeepsServing(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(map[bool]string{false: "byte flipped in the log", true: "garbage sealed segment"}[sealed], func(t *testing.T) {
			t.Parallel()
			damagedLog(t, sealed)
		})
	}
}

func damagedLog(t *testing.T, sealed bool) {
	be := newRestartableBackend(t)
	be.Down()
	g := newGateway(t, damageConfig, gatewayVars{Backend: be.URL})
	g.Start()
	const n = 21
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = []byte(fmt.Sprintf(`{"type":"render.done","render":%d,"pad":"%s"}`, i, strings.Repeat(fmt.Sprint(i%10), 4000)))
		if status, body, _ := post(t, g.URL("/hooks"), signedStandard(t, fmt.Sprint("evt_", i), time.Now(), bodies[i]), bodies[i]); status != http.StatusAccepted {
			t.Fatalf("event %d: %d %s", i, status, body)
		}
	}
	g.Stop()

	segments, err := filepath.Glob(filepath.Join(g.DataDir, "*", "webhook_ingress", "log", "*.wal"))
	if err != nil || len(segments) != 1 {
		t.Fatalf("segments %v (%v), want one", segments, err)
	}
	seg, lost := segments[0], -1
	var damaged []byte
	if sealed {
		// Named to sort first, it is a sealed segment, all of it damage.
		seg = filepath.Join(filepath.Dir(seg), "0000000000000000.wal")
		damaged = make([]byte, 4096)
		_, _ = rand.Read(damaged)
		if err := os.WriteFile(seg, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		lost = n / 2
		at := bytes.Index(data, bodies[lost])
		if at < 0 {
			t.Fatalf("event %d's body is not in %s", lost, seg)
		}
		at += len(bodies[lost]) / 2
		data[at] ^= 0x20
		if err := os.WriteFile(seg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		damaged = data[at-100 : at+100]
	}

	be.Up(t)
	g.Start()
	if status, body, _ := post(t, g.URL("/other"), nil, nil); status != http.StatusOK {
		t.Fatalf("other site: %d %s", status, body)
	}
	want := map[string]bool{}
	for i := range n {
		if i != lost {
			want[fmt.Sprint("evt_", i)] = true
		}
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%d events delivered", len(want)), func() bool {
		got := deliveredIDs(be.backend, "/events")
		for id := range want {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	if got := deliveredIDs(be.backend, "/events"); lost >= 0 && got[fmt.Sprint("evt_", lost)] != 0 {
		t.Fatalf("the damaged event was delivered: %v", got)
	}
	if !g.logged("skipped damaged bytes", seg, `"offset":`) {
		t.Fatalf("the damage is not logged with its segment and offset:\n%s", g.logs)
	}
	if lost >= 0 && strings.Contains(g.logs.String(), strings.Repeat(fmt.Sprint(lost%10), 100)) {
		t.Fatal("the log shows the damaged bytes")
	}
	if v := metricValue(g.metrics(), "caddy_webhook_store_damaged_frames_total"); v != 1 {
		t.Fatalf("caddy_webhook_store_damaged_frames_total %v, want 1", v)
	}
	quarantined, _ := filepath.Glob(seg + ".damaged-*")
	if len(quarantined) != 1 {
		t.Fatalf("quarantine files %v, want one for %s", quarantined, seg)
	}
	if q, _ := os.ReadFile(quarantined[0]); !bytes.Contains(q, damaged) {
		t.Fatalf("%s does not hold the damaged bytes", quarantined[0])
	}
}
