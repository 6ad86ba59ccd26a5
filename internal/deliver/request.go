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

// hopByHop are the headers that describe one connection, not the webhook:
// RFC 9110 section 7.6.1's and those net/http/httputil's ReverseProxy
// drops (the obsolete Proxy-Connection and Keep-Alive among them), besides
// those the client or the gateway sets itself. Every Proxy-* header and
// every header that Connection names is dropped too.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Content-Length":      true,
	"Host":                true,
	"Webhook-Id":          true,
	"Webhook-Provider":    true,
	"Webhook-Attempt":     true,
	ReplayHeader:          true,
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
	h := EndToEnd(dl.Header)
	req.Header = h
	for name, values := range w.d.Header {
		h[textproto.CanonicalMIMEHeaderKey(name)] = values
	}
	h.Set("Webhook-Id", dl.ID)
	if dl.Provider != "" {
		h.Set("Webhook-Provider", dl.Provider)
	}
	// Counted across redrives: the receiver sees every attempt it was sent.
	h.Set("Webhook-Attempt", strconv.Itoa(dl.EarlierAttempts+dl.Attempts))
	if of := dl.Header.Get(ReplayHeader); of != "" {
		h.Set(ReplayHeader, of)
	} else {
		h.Del(ReplayHeader) // a destination's header setting cannot fake one
	}
	if w.signer != nil {
		now := time.Now()
		h.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
		h.Set("Webhook-Signature", w.signer.Sign(dl.ID, now, dl.Body))
	}
	return req, nil
}

// EndToEnd returns the headers of h that are passed on: all but hop-by-hop
// ones, with canonical keys, so that later Set calls replace them whatever
// case a queue kept them in. Value slices are shared with h: nothing
// downstream modifies them.
func EndToEnd(h http.Header) http.Header {
	var connection []string
	for name, values := range h {
		if textproto.CanonicalMIMEHeaderKey(name) == "Connection" {
			connection = values
		}
	}
	out := make(http.Header, len(h))
	for name, values := range h {
		name = textproto.CanonicalMIMEHeaderKey(name)
		if hopByHop[name] || strings.HasPrefix(name, "Proxy-") || listed(connection, name) {
			continue
		}
		out[name] = values
	}
	return out
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
