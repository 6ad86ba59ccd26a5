package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

const (
	remoteTimeout = 10 * time.Second
	// RemoteMaxBytes bounds a fetched certificate, key set or SNS
	// SubscribeURL answer.
	RemoteMaxBytes = 1 << 20
	// remoteRetry: a URL is fetched at most once per remoteRetry, whatever
	// the outcome. A miss (an error, a status other than 200, a document
	// that does not parse) is remembered that long.
	remoteRetry = time.Minute
	// remoteRetryUnavailable replaces remoteRetry after a fetch that could
	// not reach an answer (ErrKeyUnavailable): short enough that a genuine
	// sender's retries (SNS: every 20 s by default) meet a fresh fetch.
	remoteRetryUnavailable = 5 * time.Second
	// remoteMaxURLs bounds the URLs one remote remembers.
	remoteMaxURLs = 4096
)

// Fetches are limited per URL, never by a budget shared between URLs: an
// SNS SigningCertURL comes from the request, and forged messages can name
// as many well-shaped URLs as they like, none of which will verify. Any
// shared budget for URLs not yet seen would be theirs to spend, and a
// genuine message whose certificate is not cached (startup, expiry, a
// rotation) would be refused. So each URL is fetched at most once per
// remoteRetry: a flood costs at most one GET of the allowed host per
// forged request that names a new URL, and nothing a genuine message needs.

// fetchPolicy is the client every remote fetch uses: keys, certificates
// and SNS SubscribeURLs. It never follows a redirect (the checked URL is
// the only one fetched) and gives up after remoteTimeout.
func fetchPolicy(c *http.Client) *http.Client {
	p := http.Client{}
	if c != nil {
		p = *c
	}
	p.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if p.Timeout == 0 || p.Timeout > remoteTimeout {
		p.Timeout = remoteTimeout
	}
	return &p
}

var defaultFetchClient = fetchPolicy(nil)

// Fetch GETs rawURL as every remote fetch is made: https only, no
// redirect followed (a redirect is an error), within remoteTimeout, and at
// most max bytes of a 200 answer. client nil means the default transport;
// tests pass their own, which gets the same policy.
func Fetch(ctx context.Context, client *http.Client, rawURL string, max int64) ([]byte, error) {
	c := defaultFetchClient
	if client != nil {
		c = fetchPolicy(client)
	}
	return fetch(ctx, c, rawURL, max)
}

func fetch(ctx context.Context, c *http.Client, rawURL string, max int64) ([]byte, error) {
	return fetchWith(ctx, c, http.MethodGet, rawURL, nil, max)
}

// fetchWith is fetch with a method and a JSON body, for the publishers
// whose keys are asked for by POST (Plaid).
func fetchWith(ctx context.Context, c *http.Client, method, rawURL string, body []byte, max int64) ([]byte, error) {
	if u, err := url.Parse(rawURL); err != nil || u.Scheme != "https" || u.User != nil || u.Host == "" {
		return nil, errors.New("remote fetch: only https URLs without credentials are fetched")
	}
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, fmt.Errorf("remote fetch: status %d: redirects are not followed", resp.StatusCode)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: remote fetch: status %d", ErrKeyUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		// The publisher says the document does not exist: a forged URL.
		return nil, fmt.Errorf("remote fetch: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("remote fetch: larger than %d bytes", max)
	}
	return b, nil
}

// remote fetches and parses documents (SNS certificates, JWKS) by URL and
// caches them for ttl, and misses for remoteRetry. Concurrent misses for
// one URL share one fetch, so a burst of requests cannot stampede the
// publisher.
type remote[T any] struct {
	client *http.Client
	ttl    time.Duration
	parse  func([]byte) (T, error)
	// fetch gets the document named key: a GET of key, a URL, unless the
	// publisher asks for another request (Plaid's POST by key id).
	fetch func(ctx context.Context, c *http.Client, key string) ([]byte, error)
	group singleflight.Group

	mu   sync.Mutex
	docs map[string]remoteDoc[T]
}

// remoteDoc is the outcome of a URL's last fetch: a document, or err.
type remoteDoc[T any] struct {
	val T
	err error
	at  time.Time
}

func newRemote[T any](client *http.Client, ttl time.Duration, parse func([]byte) (T, error)) *remote[T] {
	get := func(ctx context.Context, c *http.Client, url string) ([]byte, error) {
		return fetch(ctx, c, url, RemoteMaxBytes)
	}
	return &remote[T]{client: fetchPolicy(client), ttl: ttl, parse: parse, fetch: get, docs: map[string]remoteDoc[T]{}}
}

// get returns the document at url, fetching it when the last fetch is
// older than maxAge (at most ttl) and older than remoteRetry. A miss is
// answered from the cache until remoteRetry has passed.
func (r *remote[T]) get(url string, now time.Time, maxAge time.Duration) (T, error) {
	maxAge = min(maxAge, r.ttl)
	r.mu.Lock()
	d, ok := r.docs[url]
	r.mu.Unlock()
	retry := remoteRetry
	if errors.Is(d.err, ErrKeyUnavailable) {
		retry = remoteRetryUnavailable
	}
	if age := now.Sub(d.at); ok && age >= 0 && (age < retry || d.err == nil && age < maxAge) {
		return d.val, d.err
	}
	v, _, _ := r.group.Do(url, func() (any, error) {
		d := remoteDoc[T]{at: now}
		b, err := r.fetch(context.Background(), r.client, url)
		if err == nil {
			d.val, err = r.parse(b)
		}
		d.err = err
		r.remember(url, d)
		return d, nil
	})
	d = v.(remoteDoc[T])
	return d.val, d.err
}

// remember stores a fetch's outcome. When the cache is full, misses go
// first (forgetting one costs at most a fetch again), then everything.
func (r *remote[T]) remember(url string, d remoteDoc[T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.docs) >= remoteMaxURLs {
		for u, old := range r.docs {
			if old.err != nil {
				delete(r.docs, u)
			}
		}
		if len(r.docs) >= remoteMaxURLs {
			clear(r.docs)
		}
	}
	r.docs[url] = d
}
