package webhookingress

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestIngestRateCountsTheLastSecond(t *testing.T) {
	var r ingestRate
	if n := r.perSecond(); n != 0 {
		t.Fatalf("nothing counted yet: %d", n)
	}
	for range 250 {
		r.add()
	}
	if n := r.perSecond(); n != 250 {
		t.Errorf("250 added: %d per second", n)
	}
	// A bucket of a tick more than a second ago no longer counts.
	for i := range r.buckets {
		r.buckets[i].tick.Add(-ingestBuckets)
	}
	if n := r.perSecond(); n != 0 {
		t.Errorf("a second later: %d per second", n)
	}
}

func TestIngestBusyFollowsTheSetting(t *testing.T) {
	a := &App{YieldToIngest: 100}
	for range 99 {
		a.ingest.add()
	}
	if a.ingestBusy() || a.yielding.Load() {
		t.Error("busy at 99 verified requests per second, the setting is 100")
	}
	a.ingest.add()
	if !a.ingestBusy() || !a.yielding.Load() {
		t.Error("not busy at 100 verified requests per second")
	}
	a.YieldToIngest = 0
	if a.ingestBusy() {
		t.Error("busy with yield_to_ingest off")
	}
}

func TestYieldToIngestCaddyfile(t *testing.T) {
	for in, want := range map[string]int{
		"webhook_ingress {\n\tyield_to_ingest 5000\n}": 5000,
		"webhook_ingress {\n\tyield_to_ingest off\n}":  0,
	} {
		v, err := parseGlobalOption(caddyfile.NewTestDispenser(in), nil)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var app App
		if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
			t.Fatal(err)
		}
		if app.YieldToIngest != want {
			t.Errorf("%q: yield_to_ingest %d, want %d", in, app.YieldToIngest, want)
		}
	}
	for _, in := range []string{"yield_to_ingest", "yield_to_ingest 0", "yield_to_ingest -5", "yield_to_ingest 5/s", "yield_to_ingest 1 2"} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("webhook_ingress {\n\t"+in+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), "yield_to_ingest") && !strings.Contains(err.Error(), "argument") {
			t.Errorf("%q: want an error, got %v", in, err)
		}
	}
}
