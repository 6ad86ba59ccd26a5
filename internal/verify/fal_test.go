package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const falUser = "user-1"

// falKeys is fal's key set as a local TLS server publishes it: /jwks the
// current key, /other another key, /rotating whichever rotate last set,
// /down a 503. hits counts GETs by path.
type falKeys struct {
	srv      *httptest.Server
	cur, old ed25519.PrivateKey
	rotated  atomic.Bool
	mu       sync.Mutex
	hits     map[string]int
}

var falFixtureOnce = sync.OnceValue(func() *falKeys {
	f := &falKeys{cur: falKey(1), old: falKey(2), hits: map[string]int{}}
	set := func(k ed25519.PrivateKey) []byte {
		b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519",
			"x": base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))}}})
		return b
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits[r.URL.Path]++
		f.mu.Unlock()
		switch r.URL.Path {
		case "/jwks":
			_, _ = w.Write(set(f.cur))
		case "/other":
			_, _ = w.Write(set(f.old))
		case "/rotating":
			k := f.old
			if f.rotated.Load() {
				k = f.cur
			}
			_, _ = w.Write(set(k))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	return f
})

func falKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}

func (f *falKeys) opts(path string) Options {
	return Options{FalUserID: falUser, JWKSURL: f.srv.URL + path, HTTPClient: f.srv.Client()}
}

func (f *falKeys) getsOf(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// falSigned is a request as fal sends it, signed with k at ts.
func falSigned(k ed25519.PrivateKey, id, user string, ts int64, body string) *Request {
	sum := sha256.Sum256([]byte(body))
	t := strconv.FormatInt(ts, 10)
	sig := ed25519.Sign(k, []byte(id+"\n"+user+"\n"+t+"\n"+hex.EncodeToString(sum[:])))
	return &Request{Method: "POST", URL: "https://hooks.example.com/fal", Body: []byte(body), Now: time.Unix(ts, 0),
		Header: hdr(falRequestID, id, falUserID, user, falTimestamp, t, falSignature, hex.EncodeToString(sig))}
}

func falVector() vector {
	f := falFixtureOnce()
	r := falSigned(f.cur, "req-1", falUser, 1700000000, `{"request_id":"req-1","status":"OK"}`)
	return vector{
		name: "fal (Go ed25519, key set from a local TLS server)", provider: "fal",
		opts: f.opts("/jwks"), wrong: f.opts("/other"),
		header: r.Header, body: string(r.Body), signedAt: r.Now, sigHdr: falSignature, wantID: "req-1",
	}
}

// TestFalUserID: fal signs every account's webhooks with one key set, so
// a genuine webhook of another account is refused, and the preset cannot
// be configured without the account.
func TestFalUserID(t *testing.T) {
	f := falFixtureOnce()
	v := mustNew(t, "fal", f.opts("/jwks"))
	_, err := v.Verify(falSigned(f.cur, "req-2", "someone-else", 1700000000, `{}`))
	wantErr(t, err, ErrInvalidSignature)
	r := falSigned(f.cur, "req-3", falUser, 1700000000, `{}`)
	r.Header.Set(falUserID, "someone-else") // the signed user id is the one that counts
	_, err = v.Verify(r)
	wantErr(t, err, ErrInvalidSignature)
	if _, err := New("fal", Options{}); err == nil || !strings.Contains(err.Error(), "user_id") {
		t.Fatalf("no user_id: %v", err)
	}
	if _, err := New("fal", Options{FalUserID: falUser, JWKSURL: "http://keys.example.com/jwks"}); err == nil {
		t.Fatal("a key set over http was accepted")
	}
}

// TestFalKeyRotation: the key set is cached; a signature no cached key
// verifies refetches it, at most once per remoteRetry however many forged
// requests arrive, so a rotated key is picked up within a minute and a
// flood costs one GET.
func TestFalKeyRotation(t *testing.T) {
	f := falFixtureOnce()
	f.rotated.Store(false)
	v := mustNew(t, "fal", f.opts("/rotating"))
	now := int64(1700000000)
	if _, err := v.Verify(falSigned(f.old, "req-4", falUser, now, `{}`)); err != nil {
		t.Fatalf("signed with the published key: %v", err)
	}
	f.rotated.Store(true)
	before := f.getsOf("/rotating")
	for i := range 50 {
		_, err := v.Verify(falSigned(falKey(9), "forged-"+strconv.Itoa(i), falUser, now+1, `{}`))
		wantErr(t, err, ErrInvalidSignature)
	}
	if got := f.getsOf("/rotating") - before; got > 1 {
		t.Errorf("50 forged requests in a minute fetched the key set %d times, want at most 1", got)
	}
	later := now + int64(remoteRetry/time.Second) + 2
	if _, err := v.Verify(falSigned(f.cur, "req-5", falUser, later, `{}`)); err != nil {
		t.Fatalf("signed with the rotated key a minute later: %v", err)
	}
}

// TestFalKeysUnavailable: a key set that cannot be fetched is
// key_unavailable (the sender retries), not a forgery.
func TestFalKeysUnavailable(t *testing.T) {
	f := falFixtureOnce()
	_, err := mustNew(t, "fal", f.opts("/down")).Verify(falSigned(f.cur, "req-6", falUser, 1700000000, `{}`))
	if !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("err = %v, want ErrKeyUnavailable", err)
	}
}
