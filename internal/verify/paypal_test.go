package verify

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	paypalWebhook  = "1JE4291016473214C"
	paypalTestCert = "/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
)

// paypalPublisher serves a PayPal-like certificate over TLS on 127.0.0.1.
type paypalPublisher struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

var paypalFixture = sync.OnceValue(func() *paypalPublisher {
	p := &paypalPublisher{key: mustRSA()}
	cert := selfSigned(p.key)
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != paypalTestCert {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(cert)
	}))
	return p
})

func (p *paypalPublisher) opts(webhookID string) Options {
	return Options{PayPalWebhookID: webhookID, PayPalHost: `127\.0\.0\.1:\d+`, HTTPClient: p.srv.Client()}
}

// signed is a notification as PayPal sends it, signed with k.
func (p *paypalPublisher) signed(k *rsa.PrivateKey, id string, at time.Time, body string) http.Header {
	ts := at.UTC().Format(time.RFC3339)
	msg := id + "|" + ts + "|" + paypalWebhook + "|" + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10)
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return hdr(paypalTransmissionID, id, paypalTransmissionTime, ts, paypalTransmissionSig, base64.StdEncoding.EncodeToString(sig),
		paypalCertURL, p.srv.URL+paypalTestCert, paypalAuthAlgo, "SHA256withRSA")
}

func paypalVector() vector {
	p := paypalFixture()
	body := `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}`
	return vector{
		name: "paypal (Go RSA, certificate from a local TLS server)", provider: "paypal",
		opts: p.opts(paypalWebhook), wrong: p.opts("ANOTHERWEBHOOK1"),
		header: p.signed(p.key, "tx-1", unix(1700000000), body), body: body,
		signedAt: unix(1700000000), sigHdr: paypalTransmissionSig, wantID: "WH-1",
	}
}

// TestPayPalCertURL: the certificate is fetched only from https on an
// allowed host, at a certificate's path; anything else is refused before
// any fetch.
func TestPayPalCertURL(t *testing.T) {
	p := paypalFixture()
	body := `{"id":"WH-2"}`
	v := mustNew(t, "paypal", p.opts(paypalWebhook))
	good := p.signed(p.key, "tx-2", unix(1700000000), body)
	for _, c := range []struct{ name, url string }{
		{"http", strings.Replace(p.srv.URL, "https:", "http:", 1) + paypalTestCert},
		{"another host", "https://certs.example.com" + paypalTestCert},
		{"another path", p.srv.URL + "/v1/other/CERT-1"},
		{"a query", p.srv.URL + paypalTestCert + "?x=1"},
		{"credentials", strings.Replace(p.srv.URL, "https://", "https://u:p@", 1) + paypalTestCert},
	} {
		h := good.Clone()
		h.Set(paypalCertURL, c.url)
		_, err := v.Verify(&Request{Method: "POST", URL: "https://hooks.example.com/paypal", Header: h, Body: []byte(body), Now: unix(1700000000)})
		if !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%s: err = %v, want invalid_signature", c.name, err)
		}
	}
	if !defaultPayPalHost.MatchString("api.paypal.com") || !defaultPayPalHost.MatchString("api.sandbox.paypal.com") ||
		defaultPayPalHost.MatchString("api.paypal.com.evil.example") {
		t.Error("the default host pattern does not match PayPal's live and sandbox hosts alone")
	}
	if _, err := New("paypal", Options{}); err == nil || !strings.Contains(err.Error(), "webhook_id") {
		t.Fatalf("no webhook_id: %v", err)
	}
}

// TestPayPalCRC32: the signature binds a CRC32 of the body, which anyone
// can match; the preset says so (the body is not covered), and the claim
// is named by the signed transmission instead.
func TestPayPalCRC32(t *testing.T) {
	p := paypalFixture()
	a, b := []byte("plumless"), []byte("buckeroo") // a known CRC32 collision
	if crc32.ChecksumIEEE(a) != crc32.ChecksumIEEE(b) {
		t.Fatal("not a collision")
	}
	v := mustNew(t, "paypal", p.opts(paypalWebhook))
	h := p.signed(p.key, "tx-3", unix(1700000000), string(a))
	ra, err := v.Verify(&Request{Method: "POST", URL: "https://hooks.example.com/paypal", Header: h, Body: a, Now: unix(1700000000)})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := v.Verify(&Request{Method: "POST", URL: "https://hooks.example.com/paypal", Header: h.Clone(), Body: b, Now: unix(1700000000)})
	if err != nil || rb.Nonce != ra.Nonce {
		t.Fatalf("another body of the same CRC32: %v, nonce %q vs %q (one transmission, one claim)", err, rb.Nonce, ra.Nonce)
	}
	if p, _ := presetByName("paypal"); p.Covers&coversBody != 0 {
		t.Error("paypal claims to cover the body")
	}
}
