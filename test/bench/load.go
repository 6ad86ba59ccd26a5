package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// secret is the Standard Webhooks secret every scenario verifies with.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// pad fills every body to about 1 KB; each body still differs by its id.
var pad = strings.Repeat("x", 900)

// signedRequest is one pre-signed Standard Webhooks request.
type signedRequest struct {
	id, timestamp, signature string
	body                     []byte
}

// signRequests signs n unique requests; signing happens here, before any
// timed phase, so the load generator only sends.
func signRequests(sc scenario, prefix string, first, n int) ([]signedRequest, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	out := make([]signedRequest, n)
	for i := range out {
		id := fmt.Sprintf("evt_%s_%d", prefix, first+i)
		body := []byte(`{"type":"render.completed","id":"` + id + `","data":"` + pad + `"}`)
		sig := signStandard(key, id, ts, body)
		if sc.bodyOnly {
			sig = signMAC([]byte(secret), body)
		}
		out[i] = signedRequest{id: id, timestamp: ts, signature: sig, body: body}
	}
	return out, nil
}

// signStandard is the Standard Webhooks signature, written out here so the
// benchmark builds while internal/verify is being changed: HMAC-SHA256 over
// "{id}.{timestamp}.{body}", sent as "v1,<base64>".
func signStandard(key []byte, id, ts string, body []byte) string {
	return signMAC(key, []byte(id+"."+ts+"."), body)
}

// signMAC is "v1," and the base64 HMAC-SHA256 of parts.
func signMAC(key []byte, parts ...[]byte) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// loadResult is what one load phase measured; warm-up is excluded from
// everything but accepted.
type loadResult struct {
	sent     int           // timed requests
	elapsed  time.Duration // timed phase
	non2xx   int           // timed requests answered non-2xx or failed
	status   map[int]int   // timed answers by status (0 = transport error)
	p50, p99 time.Duration
	accepted []int // indexes of every request answered 202, warm-up included
	ranOut   bool  // the request list ended before the duration
}

func (r loadResult) rate() float64 { return float64(r.sent) / r.elapsed.Seconds() }

// rate2xx counts only successful answers per second.
func (r loadResult) rate2xx() float64 {
	return float64(r.sent-r.non2xx) / r.elapsed.Seconds()
}

// generator sends a fixed request list from a pool of keep-alive workers.
type generator struct {
	client  *http.Client // for -client http
	raw     bool
	workers int
}

func newGenerator(workers int, client string) (*generator, error) {
	if client != "raw" && client != "http" {
		return nil, fmt.Errorf("-client %q: want raw or http", client)
	}
	tr := &http.Transport{
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		MaxConnsPerHost:     workers,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &generator{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, raw: client == "raw", workers: workers}, nil
}

func (g *generator) sender(url string) (sender, error) {
	if g.raw {
		return newRawSender(url)
	}
	return &httpSender{client: g.client, url: url}, nil
}

// run sends reqs to url for warmup then duration (or until the list ends).
// onTimed, when set, is called once the timed phase starts.
func (g *generator) run(url string, reqs []signedRequest, warmup, duration time.Duration, onTimed func()) loadResult {
	var next atomic.Int64
	start := time.Now()
	timedFrom, end := start.Add(warmup), start.Add(warmup+duration)
	if onTimed != nil {
		time.AfterFunc(warmup, onTimed)
	}
	type workerStats struct {
		lat      []time.Duration
		status   map[int]int
		accepted []int
		last     time.Time
	}
	stats := make([]workerStats, g.workers)
	var ranOut atomic.Bool
	var wg sync.WaitGroup
	for w := range g.workers {
		wg.Add(1)
		snd, err := g.sender(url)
		if err != nil {
			panic(err) // the gateway's own URL
		}
		go func(ws *workerStats) {
			defer wg.Done()
			defer snd.close()
			ws.status = map[int]int{}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					ranOut.Store(true)
					return
				}
				sentAt := time.Now()
				if sentAt.After(end) {
					return
				}
				status := snd.send(reqs[i])
				done := time.Now()
				if status == http.StatusAccepted {
					ws.accepted = append(ws.accepted, i)
				}
				if sentAt.Before(timedFrom) {
					continue
				}
				ws.lat = append(ws.lat, done.Sub(sentAt))
				ws.status[status]++
				ws.last = done
			}
		}(&stats[w])
	}
	wg.Wait()
	res := loadResult{status: map[int]int{}, ranOut: ranOut.Load()}
	var lat []time.Duration
	last := timedFrom
	for _, ws := range stats {
		lat = append(lat, ws.lat...)
		res.accepted = append(res.accepted, ws.accepted...)
		for s, n := range ws.status {
			res.status[s] += n
			if s < 200 || s > 299 {
				res.non2xx += n
			}
		}
		if ws.last.After(last) {
			last = ws.last
		}
	}
	res.sent = len(lat)
	res.elapsed = last.Sub(timedFrom)
	if res.elapsed <= 0 {
		res.elapsed = time.Nanosecond
	}
	slices.Sort(lat)
	res.p50, res.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return res
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
