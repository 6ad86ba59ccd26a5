// Package caddywebhookingress lets `xcaddy build --with
// github.com/webhook-ingress/caddy-webhook-ingress` pull in every module.
package caddywebhookingress

import (
	_ "github.com/webhook-ingress/caddy-webhook-ingress/module"
)
