package webhookingress

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"golang.org/x/time/rate"
)

func TestUnmarshalVerify(t *testing.T) {
	d := caddyfile.NewTestDispenser(`webhook_verify stripe {
		secret {env.STRIPE_SECRET}
		secret {env.STRIPE_SECRET_PREVIOUS}
		tolerance 2m
		max_body 64KB
		dedupe json data.object.id 48h
		replay_ttl 10m
		url https://hooks.example.com/stripe
		on_store_error allow
	}`)
	var v Verify
	if err := v.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if v.Provider != "stripe" || len(v.Secrets) != 2 || v.MaxBody != 64000 ||
		*v.Tolerance != caddy.Duration(2*time.Minute) || v.ReplayTTL != caddy.Duration(10*time.Minute) ||
		v.URL != "https://hooks.example.com/stripe" || v.OnStoreError != "allow" {
		t.Errorf("parsed %+v", &v)
	}
	if v.Dedupe == nil || v.Dedupe.Mode != "json" || v.Dedupe.Arg != "data.object.id" || v.Dedupe.Window != caddy.Duration(48*time.Hour) {
		t.Errorf("dedupe %+v", v.Dedupe)
	}
}

// Every option of webhook_verify has its subdirective, and what the
// Caddyfile sets survives the JSON config it adapts to.
func TestEveryVerifyOptionFromTheCaddyfile(t *testing.T) {
	// Provider sns, with the credential a placeholder: the adapt-time
	// checks pass whatever the other options say.
	d := caddyfile.NewTestDispenser(`webhook_verify sns {
		secret {env.SECRET}
		public_key {env.KEY}
		api_key key-id
		tolerance 2m
		max_body 64KB
		dedupe json data.id 48h
		replay_ttl 10m
		scope renders
		name renders-in
		url https://hooks.example.com/x
		on_store_error allow
		verify_token {env.META_TOKEN}
		topic_arn arn:aws:sns:us-east-1:123456789012:orders
		sns_host sns\.example\.com
		auto_confirm
		audience https://hooks.example.com/x
		email push@project.iam.gserviceaccount.com
		jwks_url https://keys.example.com/certs
		user_id fal-user-1
		webhook_id 1JE4291016473214C
		paypal_host api\.paypal\.example
		header X-Sig
		query token
		algorithm sha512
		encoding base64
		prefix v1=
		signed "{timestamp}.{body}"
		timestamp_header X-Ts
		timestamp_format unix_ms
		id_header X-Id
	}`)
	var v Verify
	if err := v.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	for _, field := range zeroFields(reflect.ValueOf(v.VerifyOptions), "") {
		t.Errorf("VerifyOptions.%s is not set by any subdirective", field)
	}
	if v.Scheme.Signed != "{timestamp}.{body}" || v.PubSub.Email != "push@project.iam.gserviceaccount.com" {
		t.Errorf("parsed %+v", v.VerifyOptions)
	}

	b, err := json.Marshal(&v)
	if err != nil {
		t.Fatal(err)
	}
	for _, nested := range []string{`"sns":{`, `"pubsub":{`, `"facebook":{`, `"scheme":{`} {
		if !strings.Contains(string(b), nested) {
			t.Errorf("the JSON config lacks %s...}: %s", nested, b)
		}
	}
	var back Verify
	if err := caddy.StrictUnmarshalJSON(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.VerifyOptions, v.VerifyOptions) {
		t.Errorf("through JSON:\n%+v\nwas\n%+v", back.VerifyOptions, v.VerifyOptions)
	}
}

// zeroFields names the exported fields of v, a struct, left at their zero
// value, nested structs' fields too.
func zeroFields(v reflect.Value, prefix string) []string {
	var zero []string
	for i := range v.NumField() {
		f, name := v.Field(i), prefix+v.Type().Field(i).Name
		switch {
		case f.Kind() == reflect.Struct:
			zero = append(zero, zeroFields(f, name+".")...)
		case f.IsZero():
			zero = append(zero, name)
		}
	}
	return zero
}

func TestUnmarshalVerifyErrors(t *testing.T) {
	cases := map[string]string{
		"webhook_verify":                                          "needs a provider",
		"webhook_verify nope":                                     "known providers",
		"webhook_verify github {\n}":                              "secret",
		"webhook_verify github {\nsecret a\nfrobnicate\n}":        `unrecognized webhook_verify subdirective "frobnicate"`,
		"webhook_verify github {\nsecret a\ndedupe json\n}":       "needs a JSON path",
		"webhook_verify github {\nsecret a\ndedupe id forever\n}": "must be a duration",
		"webhook_verify github {\nsecret a\nmax_body lots\n}":     "must be a size",
		"webhook_verify github {\nsecret a\ntolerance soon\n}":    "must be a duration",
		"webhook_verify github extra":                             "wrong argument count",
		// Any AWS account's topic, or a token for any push endpoint,
		// would pass: refused with the fix.
		"webhook_verify sns {\nauto_confirm\n}":                                            "add `topic_arn <arn>`",
		"webhook_verify sns {\ntopic_arn orders\n}":                                        "not an SNS topic ARN",
		"webhook_verify pubsub {\nemail p@x.iam.gserviceaccount.com\n}":                    "add `audience <aud>`",
		"webhook_verify pubsub {\nemail p@x\naudience https://h/p\njwks_url http://x/c\n}": "`jwks_url` must be an https URL",
		// Checked at adapt time even when the verifier waits for a
		// placeholder, or when it is built.
		"webhook_verify github {\nsecret {env.S}\non_store_error sometimes\n}":  "on_store_error must be reject or allow",
		"webhook_verify github {\nsecret {env.S}\nauto_confirm\n}":              "auto_confirm applies to provider sns only",
		"webhook_verify stripe {\nsecret s\ntolerance 10m\nreplay_ttl 15m\n}":   "shorter than twice the tolerance (10m0s)",
		"webhook_verify github {\nsecret s\ndedupe header X-GitHub-Delivery\n}": "does not cover request headers",
	}
	for in, want := range cases {
		var v Verify
		err := v.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", in, err, want)
		}
	}
}

func TestUnmarshalForward(t *testing.T) {
	d := caddyfile.NewTestDispenser(`webhook_forward http://a:1/x http://b:2/y {
		to http://c:3/z
		timeout 5s
		max_attempts 3
		max_age 1h
		backoff 100ms 1m
		concurrency 2
		rate 600/m
		header X-Source farm
		sign standard {env.INTERNAL_SECRET}
	}`)
	var f Forward
	if err := f.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if len(f.Destinations) != 3 || f.Timeout != caddy.Duration(5*time.Second) || f.MaxAttempts != 3 ||
		f.BackoffMin != caddy.Duration(100*time.Millisecond) || f.Concurrency != 2 || f.Rate != "600/m" ||
		f.Header.Get("X-Source") != "farm" || f.SignStandard != "{env.INTERNAL_SECRET}" {
		t.Errorf("parsed %+v", f)
	}
	for in, want := range map[string]string{
		"webhook_forward":                              "at least one destination",
		"webhook_forward http://a {\nrate fast\n}":     "must look like 50/s",
		"webhook_forward http://a {\nbackoff 1m 1s\n}": "min <= max",
		"webhook_forward http://a {\nsign hmac x\n}":   "not supported",
		"webhook_forward http://a {\nconcurrency 0\n}": "positive number",
	} {
		var f Forward
		err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", in, err, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]struct {
		limit rate.Limit
		burst int
	}{
		"":       {rate.Inf, 0},
		"50/s":   {50, 50},
		"600/m":  {10, 10},
		"1/m":    {rate.Limit(1.0 / 60), 1},
		"3000/s": {3000, 3000},
	} {
		limit, burst, err := parseRate(in)
		if err != nil || limit != want.limit || burst != want.burst {
			t.Errorf("parseRate(%q) = %v, %d, %v; want %v, %d", in, limit, burst, err, want.limit, want.burst)
		}
	}
	for _, bad := range []string{"50", "x/s", "-1/s", "5/h", "0/s"} {
		if _, _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) accepted", bad)
		}
	}
}

func TestGlobalOption(t *testing.T) {
	d := caddyfile.NewTestDispenser(`webhook_ingress {
		redis {
			sentinel mymaster 10.0.0.1:26379 10.0.0.2:26379
			username whi
			password {env.REDIS_PASSWORD}
			db 2
			tls
			key_prefix x:
		}
	}`)
	v, err := parseGlobalOption(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := v.(httpcaddyfile.App)
	for _, want := range []string{`"master_name":"mymaster"`, `"addrs":["10.0.0.1:26379","10.0.0.2:26379"]`,
		`"password":"{env.REDIS_PASSWORD}"`, `"db":2`, `"tls":true`, `"key_prefix":"x:"`} {
		if !strings.Contains(string(app.Value), want) {
			t.Errorf("%s lacks %s", app.Value, want)
		}
	}
	for in, want := range map[string]string{
		"webhook_ingress {\nredis\n}":                  "needs a URL",
		"webhook_ingress {\nredis http://x\n}":         "must start with redis://",
		"webhook_ingress {\nredis {\nsentinel m\n}\n}": "master name and at least one",
		"webhook_ingress {\nnope\n}":                   "unrecognized webhook_ingress option",
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser(in), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to mention %q", in, err, want)
		}
	}
	// A placeholder URL is checked once resolved, at provision.
	if _, err := parseGlobalOption(caddyfile.NewTestDispenser("webhook_ingress {\nredis {env.REDIS_URL}\n}"), nil); err != nil {
		t.Errorf("redis {env.REDIS_URL}: %v", err)
	}
	t.Setenv("WHI_TEST_REDIS_URL", "http://x")
	if _, err := (&RedisConfig{URL: "{env.WHI_TEST_REDIS_URL}"}).storeConfig(); err == nil || !strings.Contains(err.Error(), "must start with redis://") {
		t.Errorf("a placeholder resolving to http://x: error %v", err)
	}
}

// Ids come from senders: the JSON answers escape them.
func TestWriteStatusEscapesIDs(t *testing.T) {
	rec := httptest.NewRecorder()
	writeStatus(rec, 202, "evt\"<1>\n", "accepted")
	if got, want := rec.Body.String(), `{"id":"evt\"\u003c1\u003e\n","status":"accepted"}`+"\n"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}
