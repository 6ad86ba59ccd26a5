package webhookingress

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// stripCredentials removes from a verified request what authorizes by
// itself (a shared token, basic credentials, a bearer token), so that no
// internal service, queue, dead letter or log after the edge can present it
// again. Signatures bound to the body stay.
func stripCredentials(r *http.Request, vf *verify.Verifier) {
	for _, h := range vf.CredentialHeaders() {
		r.Header.Del(h)
		// Trailers arrived with the body, which is read by now; a proxy
		// would pass them on as they came.
		r.Trailer.Del(h)
	}
	name := vf.CredentialQuery()
	if name == "" || r.URL.RawQuery == "" {
		return
	}
	u := *r.URL
	u.RawQuery = withoutParam(u.RawQuery, name)
	r.URL = &u
	r.RequestURI = u.RequestURI()
}

// withoutParam drops every name=value pair of a raw query and keeps the
// others as they were sent, in order.
func withoutParam(rawQuery, name string) string {
	var kept []string
	for pair := range strings.SplitSeq(rawQuery, "&") {
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == name {
			continue
		}
		kept = append(kept, pair)
	}
	return strings.Join(kept, "&")
}
