package webhookingress

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

const credDest = "http://hookuser:s3cr3tpass@127.0.0.1:9/x"

func noCredentials(t *testing.T, where, s string) {
	t.Helper()
	if strings.Contains(s, "s3cr3tpass") || strings.Contains(s, "hookuser") {
		t.Errorf("%s shows credentials: %s", where, s)
	}
}

// A Redis URL that is refused never shows its password, from JSON or from
// the Caddyfile.
func TestRedisURLErrorsHidePassword(t *testing.T) {
	_, err := (&RedisConfig{URL: "http://default:s3cr3tpass@127.0.0.1:6379/0"}).storeConfig()
	if err == nil || !strings.Contains(err.Error(), "xxxxx@127.0.0.1:6379") {
		t.Fatalf("storeConfig: %v, want the URL without its password", err)
	}
	noCredentials(t, "storeConfig", err.Error())
	d := caddyfile.NewTestDispenser("redis tcp://hookuser:s3cr3tpass@127.0.0.1:6379")
	d.Next()
	if _, err := parseRedis(d); err == nil {
		t.Error("parseRedis accepted tcp://")
	} else {
		noCredentials(t, "parseRedis", err.Error())
	}
}

// Two configs share a Redis client only when every connection setting is
// equal; the key does not hold the password.
func TestRedisStoreKeyCoversConnection(t *testing.T) {
	base := store.RedisConfig{URL: "redis://127.0.0.1:6379/0", Password: "s3cr3tpass", KeyPrefix: "whi:"}
	variants := map[string]func(*store.RedisConfig){
		"password": func(c *store.RedisConfig) { c.Password = "rotated" },
		"username": func(c *store.RedisConfig) { c.Username = "app" },
		"db":       func(c *store.RedisConfig) { c.DB = 1 },
		"tls":      func(c *store.RedisConfig) { c.TLS = true },
		"url":      func(c *store.RedisConfig) { c.URL = "redis://:rotated@127.0.0.1:6379/0" },
		"addrs":    func(c *store.RedisConfig) { c.Addrs = []string{"127.0.0.1:7000"} },
		"master":   func(c *store.RedisConfig) { c.MasterName = "m" },
		"prefix":   func(c *store.RedisConfig) { c.KeyPrefix = "other:" },
	}
	key := redisStoreKey(base)
	noCredentials(t, "store key", key)
	if again := redisStoreKey(base); again != key {
		t.Errorf("equal configs: keys %q and %q", key, again)
	}
	for name, change := range variants {
		c := base
		change(&c)
		if redisStoreKey(c) == key {
			t.Errorf("a config with another %s shares the client", name)
		}
	}
}

// The admin API's queues and the queue gauges name a destination without
// its credentials.
func TestQueuesAndGaugesHideCredentials(t *testing.T) {
	st, err := store.OpenLog(t.TempDir(), store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app := &App{destinations: map[string]deliver.Destination{credDest: {URL: credDest}}}
	rec := httptest.NewRecorder()
	if err := (Admin{}).queues(rec, httptest.NewRequest("GET", "/webhook_ingress/queues", nil), app, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Body.String(), `"destination":"http://xxxxx@127.0.0.1:9/x"`) {
		t.Errorf("queues: %s", rec.Body)
	}
	noCredentials(t, "queues", rec.Body.String())

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one pass, then return
	updateQueueGauges(ctx, st, []string{credDest}, zap.NewNop())
	ch := make(chan prometheus.Metric, 64)
	queueDepth.Collect(ch)
	close(ch)
	found := false
	for m := range ch {
		var pb dto.Metric
		_ = m.Write(&pb)
		for _, l := range pb.GetLabel() {
			noCredentials(t, "queue_depth label", l.GetValue())
			found = found || l.GetValue() == "http://xxxxx@127.0.0.1:9/x"
		}
	}
	if !found {
		t.Error("no queue_depth gauge for the destination")
	}
}
