package webhookingress

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// A credential repeated as a trailer of a chunked request is removed too:
// a proxy passes trailers on as they came.
func TestStripCredentialsFromTrailers(t *testing.T) {
	vf, err := verify.New("gitlab", verify.Options{Secrets: []string{"gl-token"}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/gitlab", nil)
	r.Header.Set("X-Gitlab-Token", "gl-token")
	r.Header.Set("X-Gitlab-Event", "Push Hook")
	r.Trailer = http.Header{"X-Gitlab-Token": {"gl-token"}, "X-Checksum": {"abc"}}
	stripCredentials(r, vf)
	if r.Header.Get("X-Gitlab-Token") != "" || r.Trailer.Get("X-Gitlab-Token") != "" {
		t.Errorf("credential left: header %q, trailer %q", r.Header.Get("X-Gitlab-Token"), r.Trailer.Get("X-Gitlab-Token"))
	}
	if r.Header.Get("X-Gitlab-Event") == "" || r.Trailer.Get("X-Checksum") == "" {
		t.Error("other headers or trailers were removed")
	}
}
