package test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"hash/crc32"
	"math/big"
	"net/http"
	"strconv"
	"testing"
	"time"
)

const paypalEdgeConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /paypal {
		webhook_verify paypal {
			webhook_id ` + paypalWebhookID + `
			paypal_host 127\.0\.0\.1:\d+
		}
		reverse_proxy {{.Backend}}
	}
}`

const paypalWebhookID = "1JE4291016473214C"

// TestPayPalAtTheEdge: PayPal notifications through the built Caddy,
// verified offline with the certificate a local TLS server publishes: a
// genuine one passes; another webhook's, a tampered body, a stale or a
// future transmission, and a certificate on another host are refused.
func TestPayPalAtTheEdge(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "messageverificationcerts.paypal.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	paypalURL, caFile := keyPublisher(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	be := newBackend(t)
	g := newGateway(t, paypalEdgeConfig, gatewayVars{Backend: be.URL})
	g.extraEnv = []string{"SSL_CERT_FILE=" + caFile}
	g.Start()

	certURL := paypalURL + "/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
	signed := func(id, webhookID string, at time.Time, body []byte) map[string]string {
		ts := at.UTC().Format(time.RFC3339)
		sum := sha256.Sum256([]byte(id + "|" + ts + "|" + webhookID + "|" + strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"PAYPAL-TRANSMISSION-ID": id, "PAYPAL-TRANSMISSION-TIME": ts,
			"PAYPAL-TRANSMISSION-SIG": base64.StdEncoding.EncodeToString(sig), "PAYPAL-CERT-URL": certURL,
			"PAYPAL-AUTH-ALGO": "SHA256withRSA", "Content-Type": "application/json"}
	}
	body := []byte(`{"id":"WH-58D329510W468432D-8HN650336L201105X","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"42311647XV020574X"}}`)
	if status, resp, _ := post(t, g.URL("/paypal"), signed("tx-1", paypalWebhookID, time.Now(), body), body); status != http.StatusOK {
		t.Fatalf("a genuine notification: %d %s", status, resp)
	}
	otherHost := signed("tx-6", paypalWebhookID, time.Now(), body)
	otherHost["PAYPAL-CERT-URL"] = "https://certs.example.com/v1/notifications/certs/CERT-1"
	wantRefused(t, g.URL("/paypal"), []refusal{
		{"another webhook's", signed("tx-2", "ANOTHERWEBHOOK1", time.Now(), body), body, "invalid_signature"},
		{"tampered body", signed("tx-3", paypalWebhookID, time.Now(), body), append(body, ' '), "invalid_signature"},
		{"stale", signed("tx-4", paypalWebhookID, time.Now().Add(-10*time.Minute), body), body, "timestamp_out_of_tolerance"},
		{"future", signed("tx-5", paypalWebhookID, time.Now().Add(10*time.Minute), body), body, "timestamp_out_of_tolerance"},
		{"certificate on another host", otherHost, body, "invalid_signature"},
	})
	if n := len(be.Requests()); n != 1 {
		t.Errorf("backend got %d requests, want the genuine one", n)
	}
	if t.Failed() {
		t.Logf("gateway logs:\n%s", g.logs)
	}
}
