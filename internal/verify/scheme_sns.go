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

const (
	// snsCertTTL bounds how long a fetched signing certificate is trusted
	// without fetching it again (and never beyond its NotAfter).
	snsCertTTL = time.Hour
	// snsTolerance is how old a signed Timestamp may be. SNS resends a
	// message unchanged, first Timestamp included, on every retry of its
	// delivery policy, whose retries may span up to an hour.
	snsTolerance = time.Hour
	// snsFutureSkew is how far ahead a signed Timestamp may be: clock skew
	// only, since SNS stamps a message when it is published.
	snsFutureSkew = 5 * time.Minute
)

// snsScheme verifies AWS SNS HTTP(S) deliveries: an RSA signature (SHA1withRSA
// for SignatureVersion 1, SHA256withRSA for 2) over the canonical
// "Key\nValue\n" string of the message, from a configured topic, with the
// certificate fetched from SigningCertURL, which must have the shape of
// AWS's certificate URLs.
type snsScheme struct {
	hosts  *regexp.Regexp
	paths  *regexp.Regexp
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

// decodeSNS reads a message's fields by their exact names. encoding/json
// matches struct fields case-insensitively, but the event id (MessageId)
// and everything the internal service reads are found by exact name: a
// captured message resent with "MessAgeId" would verify as the original and
// yet carry no id, and pass as a new event.
func decodeSNS(body []byte) (snsMessage, bool) {
	var m snsMessage
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return m, false
	}
	for name, dst := range map[string]*string{
		"Type": &m.Type, "MessageId": &m.MessageID, "Token": &m.Token, "TopicArn": &m.TopicArn,
		"Message": &m.Message, "Timestamp": &m.Timestamp, "SubscribeURL": &m.SubscribeURL,
		"Signature": &m.Signature, "SignatureVersion": &m.SignatureVersion, "SigningCertURL": &m.SigningCertURL,
	} {
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, dst) != nil {
			return m, false
		}
	}
	if raw, ok := fields["Subject"]; ok && string(raw) != "null" {
		m.Subject = new(string)
		if json.Unmarshal(raw, m.Subject) != nil {
			return m, false
		}
	}
	return m, true
}

var (
	// snsCertPath is the path of AWS's signing certificates, e.g.
	// /SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem.
	snsCertPath = regexp.MustCompile(`^/SimpleNotificationService-[0-9a-f]{32}\.pem$`)
	// snsCertPathUnder is the same name in any directory, for a configured
	// sns_host (emulators such as LocalStack serve it from /_aws/sns/).
	snsCertPathUnder = regexp.MustCompile(`^(?:/[\w.-]+)*/SimpleNotificationService-[0-9a-f]{32}\.pem$`)
	// snsTopicARN is arn:<partition>:sns:<region>:<account>:<topic>.
	snsTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$`)
)

func newSNSScheme(o Options) (*snsScheme, error) {
	if len(o.TopicARNs) == 0 {
		return nil, errors.New("needs the topic it is subscribed to: add `topic_arn <arn>` to webhook_verify sns. " +
			"Without it any AWS account could subscribe its own endpoint to its own topic, capture a signed Notification " +
			"with content of its choosing and post it here")
	}
	for _, arn := range o.TopicARNs {
		if !snsTopicARN.MatchString(arn) {
			return nil, fmt.Errorf("`topic_arn` %q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)", arn)
		}
	}
	s := &snsScheme{hosts: defaultSNSHost, paths: snsCertPath, topics: o.TopicARNs}
	if o.SNSHost != "" {
		re, err := snsHostPattern(o.SNSHost)
		if err != nil {
			return nil, err
		}
		s.hosts, s.paths = re, snsCertPathUnder
	}
	s.certs = newRemote(o.HTTPClient, snsCertTTL, parseRSACert)
	return s, nil
}

// parseRSACert reads a publisher's PEM signing certificate (SNS, PayPal).
func parseRSACert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("signing certificate is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("signing certificate has no RSA key")
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

// certURLAllowed: https, an allowed host, the path of a signing
// certificate, and nothing else (no credentials, query, fragment or
// escapes) that could send the fetch elsewhere or mint new URLs for one
// certificate.
func (s *snsScheme) certURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && ValidSNSConfirmURL(raw, s.hosts) && s.paths.MatchString(u.EscapedPath()) &&
		u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.RawFragment == ""
}

// content is the canonical string SNS signs.
func (s *snsScheme) content(r *Request) []byte {
	m, _ := decodeSNS(r.Body)
	msg, _ := snsStringToSign(&m)
	return []byte(msg)
}

// futureSkew marks SNS as stamped once (see onceStamped).
func (*snsScheme) futureSkew() time.Duration { return snsFutureSkew }

func (s *snsScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	m, ok := decodeSNS(r.Body)
	if !ok {
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
	ts, tsErr := time.Parse(time.RFC3339Nano, m.Timestamp)
	if !ok || err != nil || tsErr != nil || !s.certURLAllowed(m.SigningCertURL) {
		return time.Time{}, "", errMalformed
	}
	// The topic is checked before any fetch: a foreign topic costs nothing.
	if !slices.Contains(s.topics, m.TopicArn) {
		return time.Time{}, "", errNoMatch
	}
	cert, err := s.certs.get(m.SigningCertURL, now, snsCertTTL)
	if errors.Is(err, ErrKeyUnavailable) {
		return time.Time{}, "", err
	}
	if err != nil || now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return time.Time{}, "", errNoMatch
	}
	h := hash.New()
	h.Write([]byte(msg))
	if rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), hash, h.Sum(nil), sig) != nil {
		return time.Time{}, "", errNoMatch
	}
	return ts, "", nil
}
