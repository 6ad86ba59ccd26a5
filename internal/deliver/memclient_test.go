package deliver

import (
	"net/http"
	"net/http/httptest"
)

// memURL is the destination of tests that deliver through memClient.
const memURL = "http://destination.test/hook"

// memClient answers every request with handler, in memory. A worker that
// uses it can run in a testing/synctest bubble: a goroutine waiting on a
// real socket is not durably blocked, so the bubble's clock would not move.
func memClient(handler http.HandlerFunc) *http.Client {
	return &http.Client{
		Transport: memTransport(handler),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type memTransport http.HandlerFunc

func (h memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	h(rec, r)
	if r.Body != nil {
		r.Body.Close()
	}
	return rec.Result(), nil
}
