// Package webhookingress is the Caddy glue of caddy-webhook-ingress: the
// `webhook_ingress` app, the `webhook_verify` and `webhook_forward` handlers
// and the admin API. It turns Caddy config into calls on the pure packages
// under internal/ (verify, store, deliver), which import no Caddy.
//
// The folder is named module/ (what it is in this repository: the Caddy
// module) while the package is named webhookingress (what it is to Caddy and
// in its logs and stack traces); a package named "module" would say nothing
// to someone reading an import list. Its import path is
// github.com/webhook-ingress/caddy-webhook-ingress/module, and the
// repository's root package imports it, so xcaddy's --with needs only the
// repository path.
package webhookingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/deliver"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
)

func init() {
	caddy.RegisterModule(new(App))
}

// errStopped is returned to handlers of a config whose app has stopped (old
// handlers may still run during a reload); they answer 503.
var errStopped = errors.New("webhook_ingress app stopped")

// stores shares the Redis client or the embedded database across config
// reloads: the new config starts before the old one stops, and the embedded
// store's directory lock would otherwise block the new config.
var stores = caddy.NewUsagePool()

// App is the `webhook_ingress` app: it owns the store (Redis or the embedded
// database) and the delivery workers of every `webhook_forward` destination.
type App struct {
	// Redis, when set, shares nonces, dedup keys and the queue between
	// instances. Without it the embedded store is used.
	Redis *RedisConfig `json:"redis,omitempty"`
	// DataDir holds the embedded store (in its "log" directory); default:
	// Caddy's data dir.
	DataDir string `json:"data_dir,omitempty"`
	// YieldToIngest is how many verified webhook requests per second make
	// delivery give way to ingest: at that rate or more, each destination
	// gets one delivery at a time, so that the CPU goes to accepting the
	// burst, and the backlog is delivered after. Only verified requests
	// count, never open connections or slow senders. 0 (the default)
	// never gives way; about 80% of what the gateway accepts at full load
	// suits a machine that ingest should have to itself during bursts.
	// caddy_webhook_ingest_verified_per_second shows the rate.
	YieldToIngest int `json:"yield_to_ingest,omitempty"`
	// Retain keeps every verified event in the event log for this long
	// after it arrived: its metadata, credential-free headers, body, the
	// gateway's answer and each delivery attempt, for the admin API to
	// list, show and replay. 0 (the default) keeps no event log.
	Retain caddy.Duration `json:"retain,omitempty"`
	// RetainSize caps the embedded store's event log, in bytes; the
	// oldest records are dropped first. Default: 1 GiB. Redis keeps the
	// log for Retain and leaves its size to Redis's memory policy.
	RetainSize int64 `json:"retain_size,omitempty"`

	ctx      context.Context
	cancel   context.CancelFunc
	logger   *zap.Logger
	storeKey string
	newStore func() (store.Store, error)

	mu           sync.Mutex
	store        store.Store // nil until first use
	stopped      bool
	destinations map[string]deliver.Destination
	running      map[string]*deliver.Worker // by destination URL
	workers      sync.WaitGroup
	pending      sync.WaitGroup // background commits; Stop waits for them
	// ingest counts verified requests; at YieldToIngest per second the
	// delivery workers give way (ingestBusy), and yielding says so.
	ingest   ingestRate
	yielding atomic.Bool
	// routing holds the config's webhook_event matchers, checked on Start.
	routing routingCheck
	// events writes the event log; nil when Retain is 0. Set by Start,
	// which may run while the http app already serves (Caddy starts apps
	// in no set order).
	events atomic.Pointer[recorder]
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "webhook_ingress",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves placeholders and prepares the store without any I/O, so
// that `caddy validate` needs neither Redis nor the data directory.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.destinations = make(map[string]deliver.Destination)
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if err := registerIngestMetrics(ctx); err != nil {
		return err
	}
	if a.YieldToIngest < 0 {
		return fmt.Errorf("webhook_ingress: yield_to_ingest must not be negative")
	}
	if a.Retain < 0 || a.RetainSize < 0 {
		return fmt.Errorf("webhook_ingress: retain and retain_size must not be negative")
	}
	if a.Redis != nil {
		cfg, err := a.Redis.storeConfig()
		if err != nil {
			return fmt.Errorf("webhook_ingress redis: %w", err)
		}
		useCaddyLogForRedis()
		// The whole connection config, so that a reload changing the
		// password, db or TLS gets a new client; hashed, since it holds
		// the password.
		a.storeKey = redisStoreKey(cfg)
		a.newStore = func() (store.Store, error) { return store.NewRedis(cfg) }
		return nil
	}
	dir := a.DataDir
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "webhook_ingress")
	}
	path, err := filepath.Abs(filepath.Join(caddy.NewReplacer().ReplaceAll(dir, ""), "log"))
	if err != nil {
		return err
	}
	a.storeKey = "embedded:" + path
	onDamage := observeDamage(a.logger.Named("store"))
	a.newStore = func() (store.Store, error) { return store.OpenLog(path, store.LogOptions{OnDamage: onDamage}) }
	return nil
}

// Start opens the store (pinging Redis, with a clear log line when it is
// unreachable) and starts one worker per destination.
func (a *App) Start() error {
	if err := a.routing.check(); err != nil {
		return err
	}
	st, err := a.Store()
	if err != nil {
		return fmt.Errorf("webhook_ingress: opening store: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(a.ctx, 3*time.Second)
	defer cancel()
	if err := st.Ping(pingCtx); err != nil {
		// Not fatal: requests get 503 (or pass, with on_store_error allow)
		// until the store answers, and recover without a restart.
		a.logger.Error("store unreachable; webhook requests get 503 store_unavailable until it answers",
			zap.String("store", a.storeKind()), zap.Error(err))
	}
	consumer := consumerName()
	a.events.Store(a.startRecorder(st))
	observe := func(o deliver.Outcome) {
		observeDelivery(o)
		a.recordAttempt(o)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	dests := make([]string, 0, len(a.destinations))
	a.running = make(map[string]*deliver.Worker, len(a.destinations))
	for _, d := range a.destinations {
		dests = append(dests, d.URL)
		w := deliver.NewWorker(st, d, consumer, deliveryClient(), a.logger.Named("deliver"), observe)
		w.YieldTo(a.ingestBusy)
		a.running[d.URL] = w
		a.workers.Add(1)
		go func() {
			defer a.workers.Done()
			w.Run(a.ctx)
		}()
	}
	if len(dests) > 0 {
		a.workers.Add(1)
		go func() {
			defer a.workers.Done()
			updateQueueGauges(a.ctx, st, dests, a.logger)
		}()
	}
	a.logger.Info("started", zap.String("store", a.storeKind()), zap.Int("destinations", len(a.destinations)))
	return nil
}

// Stop cancels the workers, waits for in-flight deliveries and releases the
// store. It is idempotent and also called from Cleanup, since Stop is not
// called when Start fails.
func (a *App) Stop() error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	hadStore := a.store != nil
	a.mu.Unlock()

	if a.cancel != nil {
		a.cancel()
	}
	a.workers.Wait()
	a.pending.Wait()
	if hadStore {
		if _, err := stores.Delete(a.storeKey); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup releases what Provision and Start took.
func (a *App) Cleanup() error { return a.Stop() }

// Store returns the shared store, opening it on first use. During a reload
// the old config's handlers keep using the store they had: the new config
// holds it open. Once the last config is gone its calls fail, and handlers
// answer 503; a stopped app never opens the store again.
func (a *App) Store() (store.Store, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.store != nil {
		return a.store, nil
	}
	if a.stopped {
		return nil, errStopped
	}
	v, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		st, err := a.newStore()
		if err != nil {
			return nil, err
		}
		return storeDestructor{st}, nil
	})
	if err != nil {
		return nil, err
	}
	a.store = v.(storeDestructor).Store
	return a.store, nil
}

// background runs f (a store commit) after the response, in a goroutine
// that Stop waits for; once the app is stopping it runs f at once.
func (a *App) background(f func()) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		f()
		return
	}
	a.pending.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.pending.Done()
		f()
	}()
}

// addDestination registers a `webhook_forward` destination; its worker starts
// with the app. Two handlers naming the same URL share one queue and worker.
func (a *App) addDestination(d deliver.Destination) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.destinations[d.URL]; !ok {
		a.destinations[d.URL] = d
	}
}

// notify wakes the workers of destinations that were just enqueued to, so a
// new event goes out at once instead of at the next poll.
func (a *App) notify(destinations []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range destinations {
		if w := a.running[d]; w != nil {
			w.Notify()
		}
	}
}

func (a *App) destinationURLs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	urls := make([]string, 0, len(a.destinations))
	for u := range a.destinations {
		urls = append(urls, u)
	}
	return urls
}

func (a *App) storeKind() string {
	if a.Redis != nil {
		return "redis"
	}
	return "embedded"
}

type storeDestructor struct{ store.Store }

func (s storeDestructor) Destruct() error { return s.Close() }

// consumerName identifies this process to the Redis consumer group. Config
// generations of one process share it; a dead process's pending entries are
// reclaimed by the others once their lease ends.
func consumerName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

func deliveryClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport: t,
		// Internal services answer; they do not redirect webhooks elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
