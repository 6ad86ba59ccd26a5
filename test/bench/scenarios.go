package main

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

// scenario is one row of the table.
type scenario struct {
	num       int
	key       string
	title     string
	caddyfile string
	redis     bool
	forward   bool
}

var scenarios = []scenario{
	{1, "proxy", "reverse_proxy (reference)", proxyConfig, false, false},
	{2, "verify-embedded", "webhook_verify + reverse_proxy, embedded", verifyConfig, false, false},
	{3, "verify-redis", "webhook_verify + reverse_proxy, Redis", verifyConfig, true, false},
	{4, "forward-redis", "webhook_verify + webhook_forward, Redis", forwardConfig, true, true},
	{5, "forward-embedded", "webhook_verify + webhook_forward, embedded", forwardConfig, false, true},
}
