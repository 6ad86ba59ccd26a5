// Command caddy is Caddy with the standard modules plus webhook-ingress.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/webhook-ingress/caddy-webhook-ingress/module"
)

func main() {
	caddycmd.Main()
}
