package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/redact"
)

// RedisConfig selects one server (URL), a Cluster (Addrs) or Sentinel
// (MasterName plus the sentinels' Addrs). Fields set here win over the URL's.
type RedisConfig struct {
	URL        string   // redis://[user:pass@]host:port/db, rediss:// for TLS
	Addrs      []string // cluster nodes, or sentinels with MasterName
	MasterName string
	Username   string
	Password   string
	TLS        bool
	DB         int
	KeyPrefix  string
}

// ErrRedisNoAddress is Check's error for a config that names no server.
var ErrRedisNoAddress = errors.New("a URL or addresses are required")

// Check reports what makes c unusable before any connection is tried: no
// server named, or a URL of another scheme. Errors show the URL without
// its credentials.
func (c RedisConfig) Check() error {
	if c.URL == "" && len(c.Addrs) == 0 {
		return ErrRedisNoAddress
	}
	if c.URL != "" && !strings.HasPrefix(c.URL, "redis://") && !strings.HasPrefix(c.URL, "rediss://") {
		return fmt.Errorf("URL %q must start with redis:// or rediss://", redact.URL(c.URL))
	}
	return nil
}

// Redis is the shared store: one plain key per claim (redis_claims.go), the
// queue as one stream per destination. It needs Redis 7.0 or later (SET
// with both NX and GET).
type Redis struct {
	client redis.UniversalClient
	// batch sends the per-request calls (Claim, Commit, Release, Enqueue)
	// of concurrent requests in shared pipelines.
	batch   *batcher
	prefix  string
	cluster bool
	queues  sync.Map // destination -> queueKeys
}

var (
	_ Store         = (*Redis)(nil)
	_ ClaimEnqueuer = (*Redis)(nil)
)

// NewRedis builds the client without any I/O, so that a configuration can be
// validated without a live Redis; the connection is made on first use.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	opts := &redis.UniversalOptions{
		Addrs:        cfg.Addrs,
		MasterName:   cfg.MasterName,
		Username:     cfg.Username,
		Password:     cfg.Password,
		DB:           cfg.DB,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
		// One dial per attempt: with Redis down a request gets its 503 at
		// once instead of after go-redis's default five dials with backoff.
		// Once every pooled dial failed, go-redis probes once a second and
		// the same client recovers when Redis is back.
		DialerRetries: 1,
	}
	if cfg.URL != "" {
		u, err := redis.ParseURL(cfg.URL)
		if err != nil {
			// url.Error quotes the URL, which may hold the password.
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		if len(opts.Addrs) == 0 {
			opts.Addrs = []string{u.Addr}
		}
		if opts.Username == "" {
			opts.Username = u.Username
		}
		if opts.Password == "" {
			opts.Password = u.Password
		}
		if opts.DB == 0 {
			opts.DB = u.DB
		}
		opts.TLSConfig = u.TLSConfig
	}
	if cfg.TLS && opts.TLSConfig == nil {
		// ServerName stays empty: each node's host name is verified.
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client := redis.NewUniversalClient(opts)
	_, cluster := client.(*redis.ClusterClient)
	return &Redis{client: client, batch: &batcher{client: client, merge: !cluster}, prefix: cfg.KeyPrefix, cluster: cluster}, nil
}

// Client is the underlying client, for callers that share it.
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	return unavailable(r.client.Ping(ctx).Err())
}

// Close closes the client's connections.
func (r *Redis) Close() error { return r.client.Close() }

// unavailable marks every failure to talk to Redis with ErrUnavailable,
// keeping the cause (context.Canceled, a network error, ...) visible too.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// ms renders a duration for PX and scores; at least 1ms since Redis rejects
// PX 0.
func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
