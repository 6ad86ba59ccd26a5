package main

import "context"

// The Caddyfiles of the scenarios. {{.Redis}} empty means the embedded
// store under XDG_DATA_HOME.
const header = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
	{{if .Redis}}webhook_ingress {
		redis {{.Redis}} {
			key_prefix bench:
		}
	}{{end}}
}
`

const proxyConfig = header + `:{{.HTTP}} {
	handle /hooks {
		reverse_proxy {{.Backend}}
	}
}`

const verifyConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret {{.Secret}}
		}
		reverse_proxy {{.Backend}}
	}
}`

const forwardConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret {{.Secret}}
		}
		webhook_forward {{.Backend}}/events {
			rate {{.Rate}}
		}
	}
}`

// verifyAloneConfig verifies with the generic hmac scheme over the body
// alone, with the whole secret string as its key: no timestamp is signed,
// so with dedupe off nothing is claimed. It is webhook_verify's own cost,
// with no store.
const verifyAloneConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify hmac {
			secret {{.Secret}}
			header webhook-signature
			prefix v1,
			encoding base64
			signed {body}
			id_header webhook-id
			dedupe off
		}
		reverse_proxy {{.Backend}}
	}
}`

// scenario is one row of the table.
type scenario struct {
	num       int
	key       string
	title     string
	caddyfile string
	redis     bool
	forward   bool
	// bodyOnly: the requests are signed as verifyAloneConfig checks them,
	// over the body with the secret's bytes as the key.
	bodyOnly bool
	// optIn: run only when named in -only; it has no goal, and profiles
	// the gateway's own work.
	optIn bool
	// run, when set, replaces the load-then-drain of runScenario
	// (drain.go's scenarios); steady marks the steady one.
	run    func(*bench, context.Context, scenario) outcome
	steady bool
	// twin is, for a scenario with the event log on, the one it repeats
	// without (events.go).
	twin int
}

var scenarios = []scenario{
	{num: 1, key: "proxy", title: "reverse_proxy (reference)", caddyfile: proxyConfig},
	{num: 2, key: "verify-embedded", title: "webhook_verify + reverse_proxy, embedded", caddyfile: verifyConfig},
	{num: 3, key: "verify-redis", title: "webhook_verify + reverse_proxy, Redis", caddyfile: verifyConfig, redis: true},
	{num: 4, key: "forward-redis", title: "webhook_verify + webhook_forward, Redis", caddyfile: forwardConfig, redis: true, forward: true},
	{num: 5, key: "forward-embedded", title: "webhook_verify + webhook_forward, embedded", caddyfile: forwardConfig, forward: true},
	{num: 6, key: "verify-alone", title: "webhook_verify (hmac, dedupe off, no store) + reverse_proxy", caddyfile: verifyAloneConfig, bodyOnly: true, optIn: true},
	{num: 7, key: "drain-redis", title: "drain of a queued backlog, Redis", redis: true, run: (*bench).runDrain},
	{num: 8, key: "drain-embedded", title: "drain of a queued backlog, embedded", run: (*bench).runDrain},
	{num: 9, key: "steady-redis", title: "steady ingest at half the async capacity, Redis", redis: true, run: (*bench).runSteady, steady: true},
	{num: 10, key: "steady-embedded", title: "steady ingest at half the async capacity, embedded", run: (*bench).runSteady, steady: true},
}
