package webhookingress

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// noStore is webhook_verify with no store in play (GitHub, dedupe off) in
// front of a next handler that reads the body as reverse_proxy would: the
// gateway's own work per request, without Caddy's server around it.
type noStore struct {
	v    *Verify
	next caddyhttp.Handler
	body []byte
	hdr  http.Header
	w    *discardWriter
}

func newNoStore(tb testing.TB) *noStore {
	const secret = "bench-secret"
	body := []byte(`{"type":"render.completed","id":"evt_1","data":"` + strings.Repeat("x", 900) + `"}`)
	hdr, _, err := verify.Sign("github", verify.Options{Secrets: []string{secret}}, verify.SignRequest{Body: body, ID: "d-1"})
	if err != nil {
		tb.Fatal(err)
	}
	hdr.Set("Content-Type", "application/json")
	vf, err := verify.New("github", verify.Options{Secrets: []string{secret}})
	if err != nil {
		tb.Fatal(err)
	}
	return &noStore{
		v: &Verify{VerifyOptions: VerifyOptions{Provider: "github", Name: "bench", MaxBody: defaultMaxBody}, verifier: vf,
			dedupe: Dedupe{Mode: "off"}, logger: zap.NewNop()},
		next: caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			_, err := io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			return err
		}),
		body: body, hdr: hdr, w: &discardWriter{h: http.Header{}},
	}
}

// request is a fresh request as Caddy's server hands it on, with its
// replacer.
func (ns *noStore) request() *http.Request {
	ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://hooks.example/hooks", bytes.NewReader(ns.body))
	r.Header = ns.hdr.Clone()
	return r
}

// bare hands a request straight to the next handler: the harness's share.
func (ns *noStore) bare(tb testing.TB) {
	clear(ns.w.h)
	if err := ns.next.ServeHTTP(ns.w, ns.request()); err != nil {
		tb.Fatal(err)
	}
}

func (ns *noStore) serve(tb testing.TB) {
	clear(ns.w.h)
	ns.w.status = 0
	if err := ns.v.ServeHTTP(ns.w, ns.request(), ns.next); err != nil || ns.w.status != http.StatusOK {
		tb.Fatalf("status %d, err %v", ns.w.status, err)
	}
}

// heapPerCall is the bytes f allocates per call, averaged over n calls.
func heapPerCall(n int, f func()) uint64 {
	f() // first-use work (metric children, route label) is not per request
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(n)
}

// TestVerifyPathHeap bounds what webhook_verify allocates per request
// beyond the body it must keep: the body buffer used to be made at 32 KB
// and then again at the body's size, 33 KB of garbage for a 1 KB webhook,
// and the garbage collector's work was most of the gateway's cost.
func TestVerifyPathHeap(t *testing.T) {
	ns := newNoStore(t)
	bare := heapPerCall(200, func() { ns.bare(t) })
	served := heapPerCall(200, func() { ns.serve(t) })
	own := served - min(bare, served)
	if limit := uint64(2*len(ns.body) + 1024); own > limit {
		t.Errorf("webhook_verify allocates %d bytes per request of a %d-byte body, want at most %d", own, len(ns.body), limit)
	}
	if n := testing.AllocsPerRun(100, func() { tooLarge(nil) }); n > 0 {
		t.Errorf("tooLarge(nil) allocates %.0f times, want none", n)
	}
}

// BenchmarkServeHTTPNoStore is webhook_verify's own cost per request with
// no store: body read and restore, verification, placeholders, headers,
// metrics. "bare" is the harness alone, to subtract.
func BenchmarkServeHTTPNoStore(b *testing.B) {
	ns := newNoStore(b)
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ns.bare(b)
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ns.serve(b)
		}
	})
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }
