package main

// The routing scenarios (opt-in, -only 11,12): the sync and async
// scenarios with one webhook_event route and one filtered destination, to
// set against (2) and (5). The bench's events are render.completed.
func init() {
	scenarios = append(scenarios,
		scenario{num: 11, key: "verify-route", title: "webhook_verify + a webhook_event route + reverse_proxy, embedded", caddyfile: verifyRouteConfig, optIn: true},
		scenario{num: 12, key: "forward-route", title: "webhook_verify + webhook_forward to a destination filtered by event, embedded", caddyfile: forwardRouteConfig, forward: true, optIn: true},
	)
}

const verifyRouteConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret {{.Secret}}
		}
		@render webhook_event render.*
		reverse_proxy @render {{.Backend}}
	}
}`

const forwardRouteConfig = header + `:{{.HTTP}} {
	handle /hooks {
		webhook_verify standard {
			secret {{.Secret}}
		}
		webhook_forward {
			to {{.Backend}}/events {
				events render.*
			}
			rate {{.Rate}}
		}
	}
}`
