package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The event log's cost: scenarios 13-16 are 2-5 with `retain 72h`, each
// set against its twin without retention in the same round; -events-log N
// fills a log with N events and pages through all of it on the admin API
// while the gateway's memory is sampled.

// retainHeader is header with the webhook_ingress block always open, for
// the event log's options (%s), and with Redis when set.
const retainHeader = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	webhook_ingress {
		%s
		{{if .Redis}}redis {{.Redis}} {
			key_prefix bench:
		}{{end}}
	}
}
`

// retained is caddyfile (one that starts with header) with the event log's
// options.
func retained(caddyfile, options string) string {
	site, ok := strings.CutPrefix(caddyfile, header)
	if !ok {
		panic("retained: the config does not start with header")
	}
	return fmt.Sprintf(retainHeader, options) + site
}

// goalRetainDrop: a scenario with retention keeps at least this share of
// its twin's rate in the same round.
const goalRetainDrop = 0.95

// The retention scenarios go right after their twins, so that a round runs
// the two one after the other (with the reference before each).
func init() {
	for _, t := range []struct{ num, twin int }{{13, 2}, {14, 3}, {15, 4}, {16, 5}} {
		i := slices.IndexFunc(scenarios, func(sc scenario) bool { return sc.num == t.twin })
		sc := scenarios[i]
		sc.num, sc.twin = t.num, t.twin
		sc.key += "-retain"
		sc.title += ", retain 72h"
		sc.caddyfile = retained(sc.caddyfile, "retain 72h")
		scenarios = slices.Insert(scenarios, i+1, sc)
	}
}

// twinRatio is the median over the rounds of o's rate over its twin's in
// the same round; NaN when they did not run the same rounds.
func twinRatio(o, twin outcome) float64 {
	if len(o.roundRates) == 0 || len(twin.roundRates) != len(o.roundRates) {
		return math.NaN()
	}
	ratios := make([]float64, len(o.roundRates))
	for n, rate := range o.roundRates {
		ratios[n] = rate / twin.roundRates[n]
	}
	return median(ratios)
}

// retainGoals are a retention scenario's: its rate against its twin's
// (with their CPU per request, which the machine's noise hardly moves)
// and, with webhook_forward, every event delivered.
func (r report) retainGoals(o outcome, ratio float64) []goal {
	i := slices.IndexFunc(r.outcomes, func(t outcome) bool { return t.sc.num == o.sc.twin })
	var twin outcome
	if i >= 0 {
		twin = r.outcomes[i]
	}
	tr := twinRatio(o, twin)
	gs := []goal{{fmt.Sprintf("(%d) %s: %s of reverse_proxy; (%d) vs (%d): %s (gateway CPU per request %d µs against %d µs), goal >= %.2f (a drop of at most 5 %%)",
		o.sc.num, o.sc.title, fmtRatio(ratio), o.sc.num, o.sc.twin, fmtFloat(tr), o.cpuPerReq.Microseconds(), twin.cpuPerReq.Microseconds(), goalRetainDrop),
		tr >= goalRetainDrop}}
	if o.sc.forward {
		gs = append(gs, goal{fmt.Sprintf("(%d) every accepted event delivered: %d of %d (%d dead letters)", o.sc.num, o.delivered, o.accepted, o.dead), o.allDelivered()})
	}
	return gs
}

// The event log measurement (-events-log N).
const (
	// maxEventLogRSSMB bounds the listing gateway's peak RSS.
	maxEventLogRSSMB = 150
	// eventLogPage is the listing's page, the API's largest.
	eventLogPage = 1000
	// maxPageBytes bounds one page's JSON as read.
	maxPageBytes = 16 << 20
)

// eventLogOutcome is what the event log measurement found for one store.
type eventLogOutcome struct {
	store            string
	events, accepted int
	fill             time.Duration
	// unrecorded is the filler's caddy_webhook_events_unrecorded_total:
	// records dropped with the recorder's buffer full.
	unrecorded float64
	fillRSSMB  float64
	// The listing, by a fresh gateway on the same store: records read,
	// how many of them the fill's distinct events, pages, and its time.
	listed, ours, pages int
	list                time.Duration
	// ready is from the listing gateway's start until its admin API
	// answered a listing (the app runs once its store is open).
	ready           time.Duration
	readyRSSMB      float64 // its RSS then, before the listing
	peakRSSMB       float64 // the listing gateway's VmHWM
	maxSampledRSSMB float64 // its highest RSS sampled while listing
	err             error
}

func (o eventLogOutcome) listRate() float64 { return float64(o.listed) / o.list.Seconds() }
func (o eventLogOutcome) fillRate() float64 { return float64(o.accepted) / o.fill.Seconds() }

func (o eventLogOutcome) pass() bool {
	return o.err == nil && o.listed > 0 && o.peakRSSMB < maxEventLogRSSMB
}

// eventLogStores parses -events-log-store.
func eventLogStores(s string) ([]string, error) {
	switch s {
	case "embedded", "redis":
		return []string{s}, nil
	case "both":
		return []string{"embedded", "redis"}, nil
	}
	return nil, fmt.Errorf("-events-log-store %q: want embedded, redis or both", s)
}

// runEventLog fills an event log with events through a gateway with
// retention on (webhook_verify + reverse_proxy, so that each event is
// recorded as it is answered), stops it, and times a fresh gateway on the
// same store paging through the whole log, newest first, sampling its RSS.
func (b *bench) runEventLog(ctx context.Context, st string, events int) (out eventLogOutcome) {
	out.store, out.events = st, events
	dir, vars, err := b.freshStore(ctx, scenario{redis: st == "redis"})
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(dir)
	// The embedded log's default cap (1 GiB) would drop the oldest of a
	// million; Redis keeps whatever fits its memory. The route claims
	// nothing (verifyAloneConfig: dedupe off, no signed timestamp), so
	// that the memory measured is the event log's: a million claims of
	// the embedded store take about 85 MB more with or without it.
	config := retained(verifyAloneConfig, "retain 72h\n\t\tretain_size 8GiB")
	filler, err := startGateway(b.caddyBin, config, vars, dir)
	if err != nil {
		out.err = err
		return out
	}
	prefix := "eventlog-" + st
	start := time.Now()
	for first := 0; first < events; first += backlogChunk {
		reqs, err := signRequests(scenario{bodyOnly: true}, prefix, first, min(backlogChunk, events-first))
		if err != nil {
			filler.stop()
			out.err = err
			return out
		}
		res := b.gen.run(filler.url("/hooks"), reqs, 0, time.Hour, nil)
		out.accepted += res.sent - res.non2xx
		fmt.Printf("  eventlog (%s): %d of %d sent, %d answered 2xx, %.0f/s\n",
			st, first+len(reqs), events, out.accepted, float64(first+len(reqs))/time.Since(start).Seconds())
	}
	out.fill = time.Since(start)
	b.dest.reset()
	// A record is added as its event is answered; let the last ones in.
	time.Sleep(time.Second)
	out.unrecorded, err = filler.metric("caddy_webhook_events_unrecorded_total")
	out.fillRSSMB = filler.peakRSSMB()
	filler.stop()
	if err != nil {
		out.err = err
		return out
	}

	start = time.Now()
	g, err := startGateway(b.caddyBin, config, vars, dir)
	if err != nil {
		out.err = err
		return out
	}
	defer g.stop()
	client := &http.Client{Timeout: time.Minute}
	if out.err = waitEventLog(client, g); out.err != nil {
		return out
	}
	out.ready, out.readyRSSMB = time.Since(start), g.rssMB()
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				out.maxSampledRSSMB = max(out.maxSampledRSSMB, g.rssMB())
			}
		}
	}()
	start = time.Now()
	out.err = listEvents(client, g, "evt_"+prefix+"_", &out)
	out.list = time.Since(start)
	close(stop)
	sampling.Wait()
	out.peakRSSMB = g.peakRSSMB()
	if b.cfg.profileDir != "" {
		path := filepath.Join(b.cfg.profileDir, "heap-eventlog-"+st+".pprof")
		if err := g.pprof(0, "heap", path); err != nil {
			fmt.Fprintf(os.Stderr, "heap profile of the event log listing: %v\n", err)
		} else {
			fmt.Printf("  heap profile: go tool pprof -sample_index=inuse_space -top %s\n", path)
		}
	}
	return out
}

// listEvents pages through the whole log, following the Link header,
// counting the records and the distinct ids that start with ours. The
// store holds only the fill's events, so a listing that pages on past them
// has gone wrong.
func listEvents(client *http.Client, g *gateway, ours string, out *eventLogOutcome) error {
	seen := map[string]struct{}{}
	next := fmt.Sprintf("/webhook_ingress/events?limit=%d", eventLogPage)
	lastReport := time.Now()
	for next != "" {
		if out.pages > out.accepted/eventLogPage+1 {
			return fmt.Errorf("%d pages of %d records and still a next one, for %d events", out.pages, eventLogPage, out.accepted)
		}
		page, link, err := getEventPage(client, g.adminURL(next))
		if err != nil {
			return fmt.Errorf("page %d: %w", out.pages+1, err)
		}
		out.pages++
		out.listed += len(page)
		for _, rec := range page {
			if strings.HasPrefix(rec.ID, ours) {
				seen[rec.ID] = struct{}{}
			}
		}
		if next = link; len(page) == 0 && next != "" {
			return fmt.Errorf("page %d is empty but names a next one", out.pages)
		}
		if time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			fmt.Printf("  eventlog: %d records listed, gateway RSS %.0f MB\n", out.listed, g.rssMB())
		}
	}
	out.ours = len(seen)
	return nil
}

// waitEventLog waits until the gateway's app runs (its admin API answers
// 503 until then) and lists its event log.
func waitEventLog(client *http.Client, g *gateway) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, _, err := getEventPage(client, g.adminURL("/webhook_ingress/events?limit=1"))
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkNext is the target of a Link header's rel="next".
var linkNext = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="next"`)

// getEventPage reads one page of the listing and the path of the next
// page, "" after the last.
func getEventPage(client *http.Client, url string) ([]struct{ ID string }, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: %.200s", resp.Status, body)
	}
	if len(body) > maxPageBytes {
		return nil, "", fmt.Errorf("page over %d bytes", maxPageBytes)
	}
	var page []struct{ ID string }
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", err
	}
	var next string
	if m := linkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
		next = m[1]
	}
	return page, next, nil
}

// metric is the value of an unlabelled metric on the gateway's /metrics.
func (g *gateway) metric(name string) (float64, error) {
	resp, err := http.Get(g.adminURL("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// eventLogLines are the goal line and the detail line of o.
func eventLogLines(o eventLogOutcome) (goalLine, detail string) {
	goalLine = fmt.Sprintf("%s event log of %d events (%s): listing it all, %d a page, the gateway's peak RSS %.0f MB, goal < %d MB",
		passMiss(o.pass()), o.events, o.store, eventLogPage, o.peakRSSMB, maxEventLogRSSMB)
	detail = fmt.Sprintf("(eventlog, %s) %d events sent in %.0fs, %d answered 2xx (%.0f/s), %.0f records dropped by the recorder (events_unrecorded_total), filler's peak RSS %.0f MB; a fresh gateway answered after %.1fs (RSS %.0f MB) and listed %d records (%d of the %d answered events) in %d pages in %.1fs (%.0f records/s), RSS peak %.0f MB (VmHWM), highest sample while listing %.0f MB",
		o.store, o.events, o.fill.Seconds(), o.accepted, o.fillRate(), o.unrecorded, o.fillRSSMB,
		o.ready.Seconds(), o.readyRSSMB, o.listed, o.ours, o.accepted, o.pages, o.list.Seconds(), o.listRate(), o.peakRSSMB, o.maxSampledRSSMB)
	if o.err != nil {
		detail += fmt.Sprintf("; ERROR: %v", o.err)
	}
	return goalLine, detail
}
