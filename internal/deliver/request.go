package deliver

import (
	"bytes"
	"context"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// Headers that belong to one connection (RFC 9110 section 7.6.1), or that the
// client sets itself, and so are never passed on.
var hopByHop = map[string]bool{
	"Connection":        true,
	"Keep-Alive":        true,
	"Te":                true,
	"Trailer":           true,
	"Transfer-Encoding": true,
	"Upgrade":           true,
	"Content-Length":    true,
	"Host":              true,
	// and every Proxy-* header
}

// newRequest builds attempt number dl.Attempts of dl: the original body and the
// sender's end-to-end headers, then the destination's headers, then the
// Webhook-* headers (ours win, so a sender or a header setting cannot make
// Webhook-Id disagree with the event), then the Standard Webhooks signature.
func (w *Worker) newRequest(ctx context.Context, dl store.Delivery) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.d.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	copyEndToEnd(h, dl.Header)
	for name, values := range w.d.Header {
		h[textproto.CanonicalMIMEHeaderKey(name)] = values
	}
	h.Set("Webhook-Id", dl.ID)
	if dl.Provider != "" {
		h.Set("Webhook-Provider", dl.Provider)
	}
	h.Set("Webhook-Attempt", strconv.Itoa(dl.Attempts))
	if w.signer != nil {
		now := time.Now()
		h.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
		h.Set("Webhook-Signature", w.signer.Sign(dl.ID, now, dl.Body))
	}
	return req, nil
}

// copyEndToEnd copies src to dst without hop-by-hop headers, including those
// that src's Connection header names. Keys are canonicalized so that later
// Set calls replace them whatever case the queue kept them in. Value slices
// are shared: nothing downstream modifies them.
func copyEndToEnd(dst, src http.Header) {
	var connection []string
	for name, values := range src {
		if textproto.CanonicalMIMEHeaderKey(name) == "Connection" {
			connection = values
		}
	}
	for name, values := range src {
		name = textproto.CanonicalMIMEHeaderKey(name)
		if hopByHop[name] || strings.HasPrefix(name, "Proxy-") || listed(connection, name) {
			continue
		}
		dst[name] = values
	}
}

// listed reports whether Connection header values name the header.
func listed(connection []string, name string) bool {
	for _, v := range connection {
		for token := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(token), name) {
				return true
			}
		}
	}
	return false
}
