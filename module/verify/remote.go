package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

const (
	remoteTimeout = 10 * time.Second
	// remoteMaxBytes bounds a fetched certificate or key set.
	remoteMaxBytes = 1 << 20
)

// Fetches of uncached URLs are rate-limited: the URL comes from the request
// (SNS SigningCertURL), so forged requests must not turn into a flood of
// outbound fetches.
const (
	remoteRate  = rate.Limit(1)
	remoteBurst = 10
)

var defaultRemoteClient = &http.Client{Timeout: remoteTimeout}

// remote fetches and parses documents (SNS certificates, JWKS) by URL and
// caches them for ttl. Concurrent misses for one URL share one fetch, so a
// burst of requests cannot stampede the publisher.
type remote[T any] struct {
	client *http.Client
	ttl    time.Duration
	parse  func([]byte) (T, error)
	cache  sync.Map // URL -> cachedDoc[T]
	group  singleflight.Group
	limit  *rate.Limiter
}

type cachedDoc[T any] struct {
	val     T
	fetched time.Time
}

func newRemote[T any](client *http.Client, ttl time.Duration, parse func([]byte) (T, error)) *remote[T] {
	if client == nil {
		client = defaultRemoteClient
	}
	return &remote[T]{client: client, ttl: ttl, parse: parse, limit: rate.NewLimiter(remoteRate, remoteBurst)}
}

// get returns the document at url, fetching it when it is not cached or
// was fetched more than maxAge (at most ttl) before now.
func (r *remote[T]) get(url string, now time.Time, maxAge time.Duration) (T, error) {
	maxAge = min(maxAge, r.ttl)
	if c, ok := r.cache.Load(url); ok {
		if d := c.(cachedDoc[T]); now.Sub(d.fetched) < maxAge && !now.Before(d.fetched) {
			return d.val, nil
		}
	}
	v, err, _ := r.group.Do(url, func() (any, error) {
		if !r.limit.Allow() {
			var zero T
			return zero, errors.New("too many key fetches")
		}
		val, err := r.fetch(url)
		if err != nil {
			return val, err
		}
		r.cache.Store(url, cachedDoc[T]{val: val, fetched: now})
		return val, nil
	})
	return v.(T), err
}

func (r *remote[T]) fetch(url string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return zero, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return zero, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, remoteMaxBytes+1))
	if err != nil {
		return zero, err
	}
	if len(b) > remoteMaxBytes {
		return zero, fmt.Errorf("GET %s: larger than %d bytes", url, remoteMaxBytes)
	}
	return r.parse(b)
}
