package webhookingress

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

// RedisConfig selects Redis as the store: one server (URL), a Cluster
// (several Addrs) or Sentinel (MasterName plus sentinel Addrs).
type RedisConfig struct {
	// URL is redis://[user:pass@]host:port/db or rediss:// for TLS.
	URL string `json:"url,omitempty"`
	// Addrs are the nodes of a Redis Cluster (host:port), or with
	// MasterName the Sentinels to ask for the master.
	Addrs []string `json:"addrs,omitempty"`
	// MasterName is the Sentinel master's name: set, Addrs are Sentinels.
	MasterName string `json:"master_name,omitempty"`
	// Username is the ACL user; it wins over the URL's.
	Username string `json:"username,omitempty"`
	// Password may be a placeholder such as {env.REDIS_PASSWORD}; it is
	// resolved at provision time so that it never lands in the JSON config.
	Password string `json:"password,omitempty"`
	// TLS connects with TLS (as rediss:// does) to Cluster or Sentinel
	// addresses.
	TLS bool `json:"tls,omitempty"`
	// DB is the database number; it wins over the URL's. Not for Cluster.
	DB int `json:"db,omitempty"`
	// KeyPrefix starts every key the gateway writes, so that several
	// gateways or other users can share one Redis. Default: "whi:".
	KeyPrefix string `json:"key_prefix,omitempty"`
}

func (c *RedisConfig) storeConfig() (store.RedisConfig, error) {
	repl := caddy.NewReplacer()
	resolve := func(s string) string { return repl.ReplaceAll(s, "") }
	cfg := store.RedisConfig{
		URL:        resolve(c.URL),
		MasterName: resolve(c.MasterName),
		Username:   resolve(c.Username),
		Password:   resolve(c.Password),
		TLS:        c.TLS,
		DB:         c.DB,
		KeyPrefix:  resolve(c.KeyPrefix),
	}
	for _, a := range c.Addrs {
		cfg.Addrs = append(cfg.Addrs, resolve(a))
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "whi:"
	}
	return cfg, cfg.Check()
}

// checkCaddyfile is store.RedisConfig.Check in the Caddyfile's words, at
// the line of the redis block. A URL given as a placeholder such as
// {env.REDIS_URL} is checked once resolved, at provision.
func (c *RedisConfig) checkCaddyfile(d *caddyfile.Dispenser) error {
	url := c.URL
	if strings.Contains(url, "{") {
		url = "redis://"
	}
	err := store.RedisConfig{URL: url, Addrs: c.Addrs}.Check()
	if errors.Is(err, store.ErrRedisNoAddress) {
		return d.Errf("redis needs a URL (redis://host:port/db) or a cluster/sentinel line")
	}
	if err != nil {
		return d.Errf("redis %v", err)
	}
	return nil
}

// redisStoreKey names a client in the stores pool by every setting it was
// built from: configs that differ in any of them (a rotated password, another
// db) never share a client.
func redisStoreKey(cfg store.RedisConfig) string {
	b, _ := json.Marshal(cfg) // plain strings, bools and ints: cannot fail
	sum := sha256.Sum256(b)
	return "redis:" + hex.EncodeToString(sum[:])
}
