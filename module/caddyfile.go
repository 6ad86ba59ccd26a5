package webhookingress

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("webhook_ingress", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("webhook_verify", parseVerify)
	httpcaddyfile.RegisterHandlerDirective("webhook_forward", parseForward)
	// Verify before anything rewrites the URL (Twilio and Square sign it);
	// forward answers like respond does. No `order` line is needed.
	httpcaddyfile.RegisterDirectiveOrder("webhook_verify", httpcaddyfile.After, "request_body")
	httpcaddyfile.RegisterDirectiveOrder("webhook_forward", httpcaddyfile.Before, "respond")
}

// parseGlobalOption sets up the app:
//
//	webhook_ingress {
//		data_dir <path>
//		yield_to_ingest <verified requests per second>|off
//		retain <duration>|off
//		retain_size <size>
//		redis [<url>] {
//			key_prefix <prefix>
//			cluster <addr>...
//			sentinel <master> <addr>...
//			username <user>
//			password <password>
//			db <n>
//			tls
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "data_dir":
			if !d.AllArgs(&app.DataDir) {
				return nil, d.ArgErr()
			}
		case "yield_to_ingest":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if v != "off" && (err != nil || n < 1) {
				return nil, d.Errf("yield_to_ingest must be a number of verified requests per second or off, not %q", v)
			}
			app.YieldToIngest = n
		case "retain":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			if v != "off" {
				dur, err := caddy.ParseDuration(v)
				if err != nil || dur <= 0 {
					return nil, d.Errf("retain must be how long to keep events (72h, 7d) or off, not %q", v)
				}
				app.Retain = caddy.Duration(dur)
			}
		case "retain_size":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > math.MaxInt64 {
				return nil, d.Errf("retain_size must be a size such as 500MB or 2GiB, not %q", v)
			}
			app.RetainSize = int64(n)
		case "redis":
			cfg, err := parseRedis(d)
			if err != nil {
				return nil, err
			}
			app.Redis = cfg
		default:
			return nil, d.Errf("unrecognized webhook_ingress option %q (want data_dir, yield_to_ingest, retain, retain_size or redis)", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "webhook_ingress", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseRedis(d *caddyfile.Dispenser) (*RedisConfig, error) {
	cfg := new(RedisConfig)
	if d.NextArg() {
		cfg.URL = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(1) {
		switch d.Val() {
		case "key_prefix":
			if !d.AllArgs(&cfg.KeyPrefix) {
				return nil, d.ArgErr()
			}
		case "cluster":
			cfg.Addrs = d.RemainingArgs()
			if len(cfg.Addrs) == 0 {
				return nil, d.Errf("cluster needs at least one address")
			}
		case "sentinel":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return nil, d.Errf("sentinel needs a master name and at least one sentinel address")
			}
			cfg.MasterName, cfg.Addrs = args[0], args[1:]
		case "username":
			if !d.AllArgs(&cfg.Username) {
				return nil, d.ArgErr()
			}
		case "password":
			if !d.AllArgs(&cfg.Password) {
				return nil, d.ArgErr()
			}
		case "db":
			var s string
			if !d.AllArgs(&s) {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, d.Errf("db must be a non-negative number, not %q", s)
			}
			cfg.DB = n
		case "tls":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			cfg.TLS = true
		default:
			return nil, d.Errf("unrecognized redis option %q", d.Val())
		}
	}
	if err := cfg.checkCaddyfile(d); err != nil {
		return nil, err
	}
	return cfg, nil
}

func parseVerify(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	v := new(Verify)
	return v, v.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler:
//
//	webhook_verify <provider> {
//		secret <value>              # repeatable: any one may match
//		public_key <value>          # ed25519 / ECDSA / RSA presets
//		api_key <value>             # LiveKit's API key (the JWT issuer)
//		tolerance <duration>        # 0 = off
//		max_body <size>
//		dedupe id|body|header <name>|json <path>|off [<window>]
//		replay_ttl <duration>
//		scope <name>                # share replay and dedup state on purpose
//		name <label>                # the route label in metrics
//		url <public url>
//		on_store_error reject|allow
//		verify_token <token>        # facebook: the subscription handshake
//		topic_arn <arn>             # sns, repeatable: accepted topics
//		sns_host <regexp>           # sns: allowed certificate/SubscribeURL host
//		auto_confirm                # sns: confirm subscriptions
//		audience <aud>              # pubsub: the token's audience
//		email <service account>     # pubsub: the push subscription's account
//		jwks_url <url>              # pubsub: Google's signing keys
//		# provider hmac / token:
//		header <name>
//		query <name>
//		algorithm sha1|sha256|sha512
//		encoding hex|base64|base64url
//		prefix <prefix>
//		signed <template>
//		timestamp_header <name>
//		timestamp_format unix|unix_ms|rfc3339
//		id_header <name>
//	}
func (v *Verify) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if !d.NextArg() {
		return d.Errf("webhook_verify needs a provider: one of %s", strings.Join(verify.Providers(), ", "))
	}
	v.Provider = d.Val()
	if !slices.Contains(verify.Providers(), v.Provider) {
		return d.Errf("unknown webhook_verify provider %q; known providers: %s", v.Provider, strings.Join(verify.Providers(), ", "))
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	line := d.Line()
	words, lists := v.plainOptions()
	for d.NextBlock(0) {
		name := d.Val()
		if dst, ok := words[name]; ok {
			if !d.AllArgs(dst) {
				return d.ArgErr()
			}
			continue
		}
		if dst, ok := lists[name]; ok {
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			*dst = append(*dst, s)
			continue
		}
		switch name {
		case "auto_confirm":
			if d.NextArg() {
				return d.ArgErr()
			}
			v.SNS.AutoConfirm = true
		case "tolerance":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			v.Tolerance = &dur
		case "replay_ttl":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			v.ReplayTTL = dur
		case "max_body":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(s)
			if err != nil || size == 0 {
				return d.Errf("max_body %q must be a size such as 10MB", s)
			}
			v.MaxBody = int64(size)
		case "dedupe":
			dd, err := parseDedupe(d)
			if err != nil {
				return err
			}
			v.Dedupe = dd
		default:
			return d.Errf("unrecognized webhook_verify subdirective %q", name)
		}
	}
	if err := v.checkStatic(); err != nil {
		return fmt.Errorf("%s:%d - webhook_verify %s: %w", d.File(), line, v.Provider, err)
	}
	return nil
}

// errPlaceholder stands for a value known only at provision time.
var errPlaceholder = errors.New("a placeholder")

// checkStatic checks the options at adapt time, so that a mistake names its
// line; the verifier is built too when no credential is a placeholder.
func (o *VerifyOptions) checkStatic() error {
	cfg, err := o.verifyConfig(func(s string) (string, error) {
		if strings.Contains(s, "{") {
			return "", errPlaceholder
		}
		return s, nil
	})
	var vf *verify.Verifier
	switch {
	case errors.Is(err, errPlaceholder): // built and checked once provisioned
	case err != nil:
		return err
	default:
		if vf, err = verify.New(o.Provider, cfg); err != nil {
			return err
		}
	}
	return o.check(vf)
}

func parseDedupe(d *caddyfile.Dispenser) (*Dedupe, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("dedupe needs id, body, header <name>, json <path> or off")
	}
	dd := &Dedupe{Mode: args[0]}
	rest := args[1:]
	if (dd.Mode == "header" || dd.Mode == "json") && len(rest) > 0 {
		dd.Arg, rest = rest[0], rest[1:]
	}
	if err := dd.check(); err != nil {
		return nil, d.Err(err.Error())
	}
	if dd.Mode == "off" && len(rest) > 0 {
		return nil, d.ArgErr()
	}
	switch len(rest) {
	case 0:
	case 1:
		w, err := caddy.ParseDuration(rest[0])
		if err != nil || w <= 0 {
			return nil, d.Errf("dedupe window %q must be a duration such as 24h", rest[0])
		}
		dd.Window = caddy.Duration(w)
	default:
		return nil, d.ArgErr()
	}
	return dd, nil
}

func parseForward(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	f := new(Forward)
	return f, f.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler:
//
//	webhook_forward <url>... {
//		to <url>... [{
//			events <pattern>...  # only events of these types
//		}]
//		timeout <duration>
//		max_attempts <n>
//		max_age <duration>
//		backoff <min> <max>
//		concurrency <n>
//		rate <n>/s|<n>/m
//		header <name> <value>
//		sign standard <secret>
//	}
func (f *Forward) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	f.Destinations = d.RemainingArgs()
	for d.NextBlock(0) {
		switch d.Val() {
		case "to":
			urls := d.RemainingArgs()
			if len(urls) == 0 {
				return d.ArgErr()
			}
			f.Destinations = append(f.Destinations, urls...)
			if err := f.parseEvents(d, urls); err != nil {
				return err
			}
		case "timeout", "max_age":
			name := d.Val()
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			if name == "timeout" {
				f.Timeout = dur
			} else {
				f.MaxAge = dur
			}
		case "max_attempts", "concurrency":
			name := d.Val()
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return d.Errf("%s must be a positive number, not %q", name, s)
			}
			if name == "max_attempts" {
				f.MaxAttempts = n
			} else {
				f.Concurrency = n
			}
		case "backoff":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("backoff needs <min> <max>, such as: backoff 1s 10m")
			}
			lo, err1 := caddy.ParseDuration(args[0])
			hi, err2 := caddy.ParseDuration(args[1])
			if err1 != nil || err2 != nil || lo <= 0 || hi < lo {
				return d.Errf("backoff %s %s: want two durations with min <= max", args[0], args[1])
			}
			f.BackoffMin, f.BackoffMax = caddy.Duration(lo), caddy.Duration(hi)
		case "rate":
			if !d.AllArgs(&f.Rate) {
				return d.ArgErr()
			}
			if _, _, err := parseRate(f.Rate); err != nil {
				return d.Err(err.Error())
			}
		case "header":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return d.Errf("header needs <name> <value>")
			}
			if f.Header == nil {
				f.Header = make(http.Header)
			}
			f.Header.Add(name, value)
		case "sign":
			var scheme, secret string
			if !d.AllArgs(&scheme, &secret) {
				return d.Errf("sign needs: sign standard <secret>")
			}
			if scheme != "standard" {
				return d.Errf("sign scheme %q is not supported; use: sign standard <secret>", scheme)
			}
			f.SignStandard = secret
		default:
			return d.Errf("unrecognized webhook_forward subdirective %q", d.Val())
		}
	}
	if len(f.Destinations) == 0 {
		return d.Errf("webhook_forward needs at least one destination URL")
	}
	return nil
}

// parseEvents reads a `to` line's block: the event types its URLs want.
func (f *Forward) parseEvents(d *caddyfile.Dispenser, urls []string) error {
	var m MatchEvent
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "events" {
			return d.Errf("unrecognized webhook_forward destination option %q (want events)", d.Val())
		}
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.Errf("events needs at least one event type pattern")
		}
		m = append(m, args...)
	}
	if m == nil {
		return nil
	}
	if err := m.check(); err != nil {
		return d.Err(err.Error())
	}
	if f.Events == nil {
		f.Events = make(map[string]MatchEvent, len(urls))
	}
	for _, u := range urls {
		f.Events[u] = m
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < 0 {
		return 0, d.Errf("%s %q must be a duration such as 5m", name, s)
	}
	return caddy.Duration(dur), nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Verify)(nil)
	_ caddyfile.Unmarshaler = (*Forward)(nil)
)
