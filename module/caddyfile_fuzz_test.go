package webhookingress

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The Caddyfile parsers take whatever a user writes: they must return an
// error, never panic.
func FuzzCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"webhook_verify stripe {\n\tsecret {env.S}\n\tdedupe json data.id 48h\n\ttolerance 5m\n}",
		"webhook_verify hmac {\n\tsecret s\n\theader X-Sig\n\tsigned \"{timestamp}.{body}\"\n\ttimestamp_header X-Ts\n}",
		"webhook_verify sns {\n\ttopic_arn arn:aws:sns:us-east-1:123456789012:t\n\tauto_confirm\n}",
		"webhook_forward http://a:1/x {\n\tto http://b:2\n\tbackoff 1s 10m\n\trate 50/s\n\tsign standard whsec_x\n}",
		"webhook_ingress {\n\tredis redis://127.0.0.1:6379/0 {\n\t\tkey_prefix whi:\n\t\tcluster a:1 b:2\n\t}\n}",
		"webhook_verify github {\n\tmax_body 10MB\n\tdedupe header X-GitHub-Delivery\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		var v Verify
		_ = v.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		var fw Forward
		_ = fw.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		_, _ = parseGlobalOption(caddyfile.NewTestDispenser(input), nil)
	})
}
