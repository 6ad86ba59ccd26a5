package webhookingress

import (
	"strings"
	"sync"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// Placeholders of a verified request that cost a lookup or a parse: they
// are worked out when a matcher, a handler or a log first asks, so that a
// config that never routes on them pays nothing.
const (
	placeholderPrefix = "http.webhook."
	eventPlaceholder  = "http.webhook.event"
	jsonPlaceholder   = "http.webhook.json."
)

// Bounds on {http.webhook.json.<path>}: the path comes from the config, the
// body from the sender. A path costs at most maxJSONSteps parses of the body
// (each request's answer is kept), and a value longer than maxJSONValue is
// left empty rather than copied into headers and logs.
const (
	maxJSONPath  = 256
	maxJSONSteps = 16
	maxJSONValue = 4 << 10
)

// lazyFields is what a hand-off reads of its request on demand: the event
// type and body fields. Matchers, handlers and logs run in the request's
// goroutine, but the mutex keeps a handler that asks from another safe.
type lazyFields struct {
	verifier *verify.Verifier // nil when no webhook_verify passed the request on
	req      *verify.Request

	eventOnce sync.Once
	event     string

	mu   sync.Mutex
	json map[string]string // by path, for this request
}

// eventType is {http.webhook.event}: "" when the sender names no type.
func (l *lazyFields) eventType() string {
	if l.verifier == nil {
		return ""
	}
	l.eventOnce.Do(func() { l.event = l.verifier.Event(l.req) })
	return l.event
}

// jsonField is {http.webhook.json.<path>}: "" for a body that is not JSON,
// a path that is missing or not a scalar, or past the bounds.
func (l *lazyFields) jsonField(path string) string {
	if l.req == nil || path == "" || len(path) > maxJSONPath || strings.Count(path, ".") >= maxJSONSteps {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.json[path]; ok {
		return v
	}
	v, ok := verify.JSONField(l.req.Body, path)
	if !ok || len(v) > maxJSONValue {
		v = ""
	}
	if l.json == nil {
		l.json = make(map[string]string, 2)
	}
	l.json[path] = v
	return v
}

// placeholder is the replacer's provider of the lazy placeholders. Every
// placeholder of the request is looked up through it first, so anything
// else returns at the prefix check.
func (l *lazyFields) placeholder(key string) (any, bool) {
	if !strings.HasPrefix(key, placeholderPrefix) {
		return nil, false
	}
	switch {
	case key == eventPlaceholder:
		return l.eventType(), true
	case strings.HasPrefix(key, jsonPlaceholder):
		return l.jsonField(key[len(jsonPlaceholder):]), true
	}
	return nil, false
}
