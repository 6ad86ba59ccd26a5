package test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const snsEdgeConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /sns {
		webhook_verify sns {
			sns_host @SNS_HOST@
			topic_arn ` + snsTopic + `
		}
		reverse_proxy {{.Backend}}
	}
}`

// TestSNSAtTheEdge: what a hostile sender can do to an SNS route through
// the built Caddy: flood it with forged messages naming new certificate
// URLs, point it at a certificate that redirects, replay an old message.
func TestSNSAtTheEdge(t *testing.T) {
	sns := newSNSFixture(t)
	be := newBackend(t)
	g := newGateway(t, strings.ReplaceAll(snsEdgeConfig, "@SNS_HOST@", sns.hostPattern()), gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"SSL_CERT_FILE=" + sns.caFile}
	g.Start()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	post := func(m *snsMessage, key *rsa.PrivateKey) (int, string, error) {
		h := map[string]string{}
		for k, v := range snsHeader(m) {
			h[k] = v[0]
		}
		status, body, _, err := tryPost(g.URL("/sns"), h, m.signed(t, key))
		return status, strings.TrimSpace(body), err
	}

	t.Run("a certificate URL that redirects to plain http", func(t *testing.T) {
		m := sns.message("Notification", snsTopic, "")
		m.SigningCertURL = sns.redirectURL
		status, body, err := post(m, sns.key)
		if err != nil || status != http.StatusUnauthorized {
			t.Errorf("certificate behind a redirect: %d %q %v, want 401", status, body, err)
		}
		if _, plain := sns.gets(); plain != 0 {
			t.Errorf("the gateway followed the redirect: %d GETs of the plain http server", plain)
		}
	})

	// SNS drops a message answered with a 4xx other than 429: a certificate
	// that cannot be fetched must ask for a retry, not refuse.
	t.Run("a certificate that cannot be fetched is answered 503", func(t *testing.T) {
		m := sns.message("Notification", snsTopic, "")
		m.SigningCertURL = sns.srv.URL + snsUnavailablePath
		h := map[string]string{}
		for k, v := range snsHeader(m) {
			h[k] = v[0]
		}
		status, body, header, err := tryPost(g.URL("/sns"), h, m.signed(t, sns.key))
		if err != nil || status != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"error":"key_unavailable"}` || header.Get("Retry-After") == "" {
			t.Errorf("certificate answered 503: %d %q (Retry-After %q) %v, want 503 key_unavailable with Retry-After", status, body, header.Get("Retry-After"), err)
		}
	})

	// Before any genuine message has had its certificate cached:
	// 80 forged messages (signed by another key), each naming a new
	// certificate URL of AWS's shape on the allowed host, then a genuine one.
	t.Run("a forged flood does not starve a genuine certificate fetch", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 10 {
					m := sns.message("Notification", snsTopic, "")
					m.SigningCertURL = fmt.Sprintf("%s/SimpleNotificationService-%032x.pem", sns.srv.URL, w*100+i)
					if status, body, err := post(m, otherKey); err != nil || status != http.StatusUnauthorized {
						t.Errorf("forged message: %d %q %v, want 401", status, body, err)
					}
				}
			})
		}
		wg.Wait()
		genuine := sns.message("Notification", snsTopic, "")
		if status, body, err := post(genuine, sns.key); err != nil || status != http.StatusOK {
			t.Fatalf("the genuine message after the flood: %d %q %v, want the backend's 200", status, body, err)
		}
		if cert, _ := sns.gets(); cert != 1 {
			t.Errorf("the certificate was fetched %d times, want 1", cert)
		}
	})

	t.Run("the signed Timestamp is windowed", func(t *testing.T) {
		for _, c := range []struct{ what, ts string }{
			{"a Notification dated 2015", "2015-06-01T12:00:00.000Z"},
			{"a Notification dated an hour and a minute ago", time.Now().Add(-61 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")},
			{"a Notification dated ten minutes ahead", time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")},
		} {
			m := sns.message("Notification", snsTopic, "")
			m.Timestamp = c.ts
			status, body, err := post(m, sns.key)
			if err != nil || status != http.StatusUnauthorized || body != `{"error":"timestamp_out_of_tolerance"}` {
				t.Errorf("%s: %d %q %v, want 401 timestamp_out_of_tolerance", c.what, status, body, err)
			}
		}
		m := sns.message("Notification", snsTopic, "")
		m.Timestamp = time.Now().Add(-50 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
		if status, body, err := post(m, sns.key); err != nil || status != http.StatusOK {
			t.Errorf("a Notification retried 50 min after it was published: %d %q %v, want 200", status, body, err)
		}
	})

	if n := len(be.Requests()); n != 2 {
		t.Errorf("backend got %d requests, want the 2 genuine ones", n)
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}

const pubsubEdgeConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /pubsub {
		webhook_verify pubsub {
			audience ` + pushAudience + `
			email ` + pushAccount + `
			jwks_url @JWKS_URL@
		}
		reverse_proxy {{.Backend}}
	}
}`

const (
	pushAudience = "https://hooks.example.com/pubsub"
	pushAccount  = "push@project.iam.gserviceaccount.com"
)

// TestPubSubAtTheEdge: tokens are held to Google's rules through the built
// Caddy: 300 s of clock skew on iat, a lifetime of at most 24 h.
func TestPubSubAtTheEdge(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	googleURL, caFile := keyPublisher(t, jwks)

	be := newBackend(t)
	g := newGateway(t, strings.ReplaceAll(pubsubEdgeConfig, "@JWKS_URL@", googleURL+"/oauth2/v3/certs"), gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"SSL_CERT_FILE=" + caFile}
	g.Start()

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	push := func(iat, exp time.Time) (int, string) {
		t.Helper()
		n++
		claims, _ := json.Marshal(map[string]any{
			"iss": "https://accounts.google.com", "aud": pushAudience, "azp": "1234", "sub": "1234",
			"email": pushAccount, "email_verified": true, "iat": iat.Unix(), "exp": exp.Unix(),
		})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"message":{"data":"aGk=","messageId":"%d","publishTime":"2026-01-01T00:00:00Z"},"subscription":"projects/p/subscriptions/s"}`, n)
		status, answer, _ := post(t, g.URL("/pubsub"), map[string]string{"Authorization": "Bearer " + signed, "Content-Type": "application/json"}, []byte(body))
		return status, answer
	}
	now := time.Now()
	if status, body := push(now.Add(-10*time.Second), now.Add(time.Hour)); status != http.StatusOK {
		t.Fatalf("a genuine push: %d %q, want 200", status, body)
	}
	for _, c := range []struct {
		what     string
		iat, exp time.Time
	}{
		{"iat 3 h in the future", now.Add(3 * time.Hour), now.Add(4 * time.Hour)},
		{"a 48 h lifetime", now.Add(-10 * time.Second), now.Add(48 * time.Hour)},
	} {
		if status, body := push(c.iat, c.exp); status != http.StatusUnauthorized {
			t.Errorf("%s: %d %q, want 401", c.what, status, body)
		}
	}
	if got := len(be.Requests()); got != 1 {
		t.Errorf("backend got %d requests, want the genuine one", got)
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}
