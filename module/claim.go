package webhookingress

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/store"
	"github.com/webhook-ingress/caddy-webhook-ingress/internal/verify"
)

// A request's claim is one key in its route's scope, derived only from what
// the verified proof vouches for, so that a captured request sent again
// under a new unsigned id is still the same claim:
//
//   - the event id, where the signature covers it (Standard Webhooks'
//     webhook-id, Stripe's body id) or the proof is a shared credential
//     (whoever holds it can send anything anyway);
//   - else a digest of the signed content: the body, in the canonical form
//     of a scheme that parses what it signs (Twilio's form parameters), or
//     the signed nonce where the body is not signed (Mailgun);
//   - the nonce (a digest of the signed request) rides along, so that the
//     store tells the same signed request again (409 replayed) from the
//     sender's retry, signed anew (200 duplicate).
//
// An unsigned id (GitHub's X-GitHub-Delivery) is still passed on as
// Webhook-Id; it never names the claim.

// claimFor builds the request's claim, or nil when neither replay nor dedup
// applies (dedupe off and no signed timestamp). id is the Webhook-Id: the
// body's digest when the sender names no event, so it is not hashed twice.
func (v *Verify) claimFor(r *http.Request, res verify.Result, id string, body []byte) (*store.Claim, error) {
	c := store.Claim{Scope: v.scope.get(r, v), Lease: claimLease, TTL: time.Duration(v.dedupe.Window)}
	if v.verifier.SignsTimestamp() && res.Nonce != "" {
		c.Nonce = hashString(res.Nonce)
		// The claim outlives neither window: a replay is refused for
		// replay_ttl, a retry for the dedup window.
		c.TTL = max(c.TTL, v.replayTTL)
	}
	vouchesBody, vouchesID, _ := v.verifier.Vouches()
	switch v.dedupe.Mode {
	case "off":
		if c.Nonce == "" {
			return nil, nil
		}
		c.Key, c.TTL = "n:"+c.Nonce, v.replayTTL
	case "id":
		if res.ID != "" && vouchesID {
			c.Key = "id:" + boundedKey(res.ID)
			break
		}
		fallthrough
	case "body":
		switch {
		case res.Content != "":
			// The scheme signs the body as it parses it: bodies that verify
			// alike are one event, however their bytes differ.
			c.Key = "body:" + res.Content
		case vouchesBody:
			c.Key = "body:" + bodyDigest(res, id, body)
		case c.Nonce != "":
			c.Key = "n:" + c.Nonce
		default:
			c.Key = "body:" + bodyDigest(res, id, body)
		}
	case "header":
		val := r.Header.Get(v.dedupe.Arg)
		if val == "" {
			return nil, fmt.Errorf("header %s is missing", v.dedupe.Arg)
		}
		c.Key = "header:" + boundedKey(val)
	case "json":
		val, ok := verify.JSONField(body, v.dedupe.Arg)
		if !ok {
			return nil, fmt.Errorf("JSON field %s is missing or the body is not JSON", v.dedupe.Arg)
		}
		c.Key = "json:" + boundedKey(val)
	}
	return &c, nil
}

// bodyDigest is the body's SHA-256, which id (the Webhook-Id) already is
// when the sender names no event.
func bodyDigest(res verify.Result, id string, body []byte) string {
	if res.ID == "" {
		return id
	}
	return bodyHash(body)
}

// checkDedupeSigned refuses a dedup key the proof does not vouch for: a
// captured request resent with another value there would pass as new.
func checkDedupeSigned(d Dedupe, vf *verify.Verifier) error {
	vouchesBody, _, vouchesRequest := vf.Vouches()
	switch {
	case d.Mode == "header" && !vouchesRequest:
		return fmt.Errorf("dedupe header %s: the signature does not cover request headers, so a captured request resent with a new %s would be passed on again; use dedupe id, body or json <path>", d.Arg, d.Arg)
	case d.Mode == "json" && !vouchesBody:
		return fmt.Errorf("dedupe json %s: this provider's signature does not cover the body, so a captured request resent with a new %s would be passed on again; use dedupe id or body", d.Arg, d.Arg)
	}
	return nil
}

// maxKeyPart bounds what a sender's value adds to a claim key.
const maxKeyPart = 128

// boundedKey is s, or its digest when s is longer than maxKeyPart.
func boundedKey(s string) string {
	if len(s) <= maxKeyPart {
		return s
	}
	return bodyHash([]byte(s))
}

// claimScope is a handler's scope, worked out on its first request: only
// then is the handler in its server's routes.
type claimScope struct {
	once  sync.Once
	value string
}

func (cs *claimScope) get(r *http.Request, v *Verify) string {
	cs.once.Do(func() {
		if v.Scope != "" {
			cs.value = scopeTag(v.Scope)
			return
		}
		srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
		cs.value = scopeTag(v.Provider + "@" + configuredRoute(srv, v) + "#" + routeIdentity(srv, v))
	})
	return cs.value
}

// routeIdentity is a short digest of what tells h's route from any other:
// every matcher on the way to it (headers, queries, expressions..., not
// only host and path), as configured. It stays the same across reloads of
// the same routes and secret rotation, and on every instance configured
// alike: the server's listeners are left out, since instances sharing
// Redis may listen on different ports and must still share their claims.
func routeIdentity(srv *caddyhttp.Server, h caddyhttp.MiddlewareHandler) string {
	sum := sha256.New()
	if srv != nil {
		for _, route := range routesTo(srv, h) {
			for _, set := range route.MatcherSets {
				for _, m := range set {
					// Provisioned matchers marshal to their configuration;
					// the type tells apart those that marshal alike.
					b, _ := json.Marshal(m)
					fmt.Fprintf(sum, "%T %s;", m, b)
				}
				sum.Write([]byte("|"))
			}
			sum.Write([]byte("\n"))
		}
	}
	return hex.EncodeToString(sum.Sum(nil)[:4])
}

// maxScopeTag bounds a scope as stores see it: it is part of every key.
const maxScopeTag = 64

// scopeTag is name where it is short and plain enough to read in a Redis
// key (no braces, which would change the key's hash slot), else a digest.
func scopeTag(name string) string {
	plain := len(name) > 0 && len(name) <= maxScopeTag
	for i := 0; plain && i < len(name); i++ {
		c := name[i]
		plain = c > ' ' && c < 0x7f && c != '{' && c != '}'
	}
	if plain {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "h:" + hex.EncodeToString(sum[:16])
}
