package verify

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// snsCertTTL bounds how long a fetched signing certificate is trusted
// without fetching it again (and never beyond its NotAfter).
const snsCertTTL = time.Hour

// snsScheme verifies AWS SNS HTTP(S) deliveries: an RSA signature (SHA1withRSA
// for SignatureVersion 1, SHA256withRSA for 2) over the canonical
// "Key\nValue\n" string of the message, with the certificate fetched from
// SigningCertURL, which must be an https .pem URL on an SNS host.
type snsScheme struct {
	hosts  *regexp.Regexp
	topics []string
	certs  *remote[*x509.Certificate]
}

// snsMessage is an SNS HTTP(S) message. Subject is a pointer: a Notification
// signs it only when present.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SubscribeURL     string
	Signature        string
	SignatureVersion string
	SigningCertURL   string
}

func newSNSScheme(o Options) (*snsScheme, error) {
	s := &snsScheme{hosts: defaultSNSHost, topics: o.TopicARNs}
	if o.SNSHost != "" {
		re, err := regexp.Compile(`^(?:` + o.SNSHost + `)$`)
		if err != nil {
			return nil, fmt.Errorf("`sns_host` is not a valid regexp: %w", err)
		}
		s.hosts = re
	}
	s.certs = newRemote(o.HTTPClient, snsCertTTL, parseSNSCert)
	return s, nil
}

func parseSNSCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("SNS signing certificate is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("SNS signing certificate has no RSA key")
	}
	return cert, nil
}

// snsStringToSign is the canonical message, or false for an unknown type.
func snsStringToSign(m *snsMessage) (string, bool) {
	type kv struct{ k, v string }
	var fields []kv
	switch m.Type {
	case "Notification":
		fields = []kv{{"Message", m.Message}, {"MessageId", m.MessageID}}
		if m.Subject != nil {
			fields = append(fields, kv{"Subject", *m.Subject})
		}
		fields = append(fields, kv{"Timestamp", m.Timestamp}, kv{"TopicArn", m.TopicArn}, kv{"Type", m.Type})
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = []kv{{"Message", m.Message}, {"MessageId", m.MessageID}, {"SubscribeURL", m.SubscribeURL},
			{"Timestamp", m.Timestamp}, {"Token", m.Token}, {"TopicArn", m.TopicArn}, {"Type", m.Type}}
	default:
		return "", false
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.k)
		b.WriteByte('\n')
		b.WriteString(f.v)
		b.WriteByte('\n')
	}
	return b.String(), true
}

// certURLAllowed: https, an allowed host, a .pem path, nothing else that
// could redirect the fetch (credentials, opaque forms).
func (s *snsScheme) certURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && ValidSNSConfirmURL(raw, s.hosts) && strings.HasSuffix(u.Path, ".pem") && u.RawQuery == ""
}

func (s *snsScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	var m snsMessage
	if json.Unmarshal(r.Body, &m) != nil {
		return time.Time{}, "", errMalformed
	}
	if m.Signature == "" || m.SigningCertURL == "" {
		return time.Time{}, "", errMissing
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return time.Time{}, "", errMalformed
	}
	msg, ok := snsStringToSign(&m)
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if !ok || err != nil || !s.certURLAllowed(m.SigningCertURL) {
		return time.Time{}, "", errMalformed
	}
	// The topic is checked before any fetch: a foreign topic costs nothing.
	if len(s.topics) > 0 && !slices.Contains(s.topics, m.TopicArn) {
		return time.Time{}, "", errNoMatch
	}
	cert, err := s.certs.get(m.SigningCertURL, now, snsCertTTL)
	if err != nil || now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return time.Time{}, "", errNoMatch
	}
	h := hash.New()
	h.Write([]byte(msg))
	if rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), hash, h.Sum(nil), sig) != nil {
		return time.Time{}, "", errNoMatch
	}
	return time.Time{}, "", nil
}
