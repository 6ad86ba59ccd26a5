package verify

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// remoteFixture is a local TLS server standing in for AWS SNS (signing
// certificates) and Google (JWKS), with keys made for the tests. The tests
// never reach the network.
type remoteFixture struct {
	srv *httptest.Server
	// SNS: certPEM is served at certURL; otherPEM is the same URL's
	// content as the wrong-key client sees it.
	snsKey            *rsa.PrivateKey
	certPEM, otherPEM []byte
	certURL           string
	// Pub/Sub: googleKey signs the tokens (kid "k1"); the JWKS at
	// jwksURL publishes it, the one at otherJWKSURL another key as "k1".
	googleKey             *rsa.PrivateKey
	jwksURL, otherJWKSURL string
	jwksHits              int
	// plain is an http (not https) server that redirects lead to; it
	// counts the requests it gets.
	plain     *httptest.Server
	plainHits int
	// gets counts the GETs of each path of srv.
	gets map[string]int
	mu   sync.Mutex
}

const (
	testSNSHost     = `127\.0\.0\.1:\d+`
	testTopic       = "arn:aws:sns:us-east-1:123456789012:uploads"
	testPushAccount = "push@project.iam.gserviceaccount.com"
	testPushURL     = "https://hooks.example.com/hook"
	// testCertPath has the shape of AWS's certificate paths.
	testCertPath = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
	// testRedirectPath is as well shaped, but redirects to the plain server.
	testRedirectPath = "/SimpleNotificationService-fedcba9876543210fedcba9876543210.pem"
	// testFlakyPath answers 503 to every odd GET, the certificate to the
	// others.
	testFlakyPath = "/SimpleNotificationService-00000000000000000000000000000503.pem"
)

var fixture = sync.OnceValue(newRemoteFixture)

func selfSigned(k *rsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func jwks(k *rsa.PrivateKey) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		panic(err)
	}
	return b
}

func newRemoteFixture() *remoteFixture {
	f := &remoteFixture{snsKey: mustRSA(), googleKey: mustRSA(), gets: map[string]int{}}
	f.certPEM, f.otherPEM = selfSigned(f.snsKey), selfSigned(otherRSA)
	f.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.plainHits++
		f.mu.Unlock()
		w.Write(f.certPEM)
	}))
	mux := http.NewServeMux()
	mux.HandleFunc(testCertPath, func(w http.ResponseWriter, _ *http.Request) { w.Write(f.certPEM) })
	mux.HandleFunc(testRedirectPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.plain.URL+"/a.pem", http.StatusFound)
	})
	mux.HandleFunc("/oauth2/v3/certs", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.jwksHits++
		f.mu.Unlock()
		w.Write(jwks(f.googleKey))
	})
	mux.HandleFunc(testFlakyPath, func(w http.ResponseWriter, r *http.Request) {
		if n, _ := f.getsOf(testFlakyPath); n%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write(f.certPEM)
	})
	mux.HandleFunc("/unavailable/certs", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redir/certs", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/oauth2/v3/certs", http.StatusFound)
	})
	mux.HandleFunc("/other/certs", func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks(otherRSA)) })
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.gets[r.URL.Path]++
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	f.certURL = f.srv.URL + testCertPath
	f.jwksURL = f.srv.URL + "/oauth2/v3/certs"
	f.otherJWKSURL = f.srv.URL + "/other/certs"
	return f
}

func (f *remoteFixture) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jwksHits
}

// getsOf is how many times path was fetched from srv, and from plain.
func (f *remoteFixture) getsOf(path string) (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[path], f.plainHits
}

// roundTripFunc serves every request from a function: the wrong-key
// client, which sees another certificate at the same URL.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func servingOnly(body []byte) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}}, nil
	})}
}

func (f *remoteFixture) snsOpts() Options {
	return Options{HTTPClient: f.srv.Client(), SNSHost: testSNSHost, TopicARNs: []string{testTopic}}
}

func (f *remoteFixture) snsWrong() Options {
	return Options{HTTPClient: servingOnly(f.otherPEM), SNSHost: testSNSHost, TopicARNs: []string{testTopic}}
}

func (f *remoteFixture) pubsubOpts() Options {
	return Options{HTTPClient: f.srv.Client(), JWKSURL: f.jwksURL, Email: testPushAccount, Audience: testPushURL}
}

// snsSignedAt is f.snsSigned with SigningCertURL set to certURL.
func (f *remoteFixture) snsSignedAt(certURL string, fields map[string]string) string {
	return strings.Replace(f.snsSigned(fields, "2"), f.certURL, certURL, 1)
}

// snsSigned builds an SNS message body signed as the AWS documentation
// describes, independently of the scheme's code: "Key\nValue\n" for the
// type's fields in order, Subject only when present.
func (f *remoteFixture) snsSigned(fields map[string]string, version string) string {
	var order []string
	switch fields["Type"] {
	case "Notification":
		order = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	default:
		order = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var canon bytes.Buffer
	for _, k := range order {
		if v, ok := fields[k]; ok {
			canon.WriteString(k + "\n" + v + "\n")
		}
	}
	var digest []byte
	hash := crypto.SHA256
	if version == "1" {
		sum := sha1.Sum(canon.Bytes())
		digest, hash = sum[:], crypto.SHA1
	} else {
		sum := sha256.Sum256(canon.Bytes())
		digest = sum[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.snsKey, hash, digest)
	if err != nil {
		panic(err)
	}
	msg := map[string]string{"SignatureVersion": version, "Signature": base64.StdEncoding.EncodeToString(sig),
		"SigningCertURL": f.certURL, "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
	for k, v := range fields {
		msg[k] = v
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// googleToken mints a push token as Google would, with claims overridden
// (nil: removed).
func (f *remoteFixture) googleToken(key *rsa.PrivateKey, over map[string]any) string {
	claims := map[string]any{
		"iss": "https://accounts.google.com", "aud": testPushURL, "azp": "1234", "sub": "1234",
		"email": testPushAccount, "email_verified": true,
		"iat": 1700000000 - 10, "exp": 1700000000 + 3590,
	}
	for k, v := range over {
		claims[k] = v
		if v == nil {
			delete(claims, k)
		}
	}
	return rs256(key, claims)
}

// rs256 signs claims as an RS256 JWT with the key id k1.
func rs256(key *rsa.PrivateKey, claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	return signJWS(jose.RS256, key, "k1", payload)
}

// macJWT makes a JWT of claims by hand, independently of the code under
// test: alg HS256 or HS512 keyed with secret, or "none" (no signature).
func macJWT(alg, secret string, claims any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	signed := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(payload)
	var m hash.Hash
	switch alg {
	case "HS256":
		m = hmac.New(sha256.New, []byte(secret))
	case "HS512":
		m = hmac.New(sha512.New, []byte(secret))
	default:
		return signed + "."
	}
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func hs256(secret string, claims map[string]any) string { return macJWT("HS256", secret, claims) }
