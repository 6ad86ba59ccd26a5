package verify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// PayPal's webhook headers.
const (
	paypalTransmissionID   = "Paypal-Transmission-Id"
	paypalTransmissionTime = "Paypal-Transmission-Time"
	paypalTransmissionSig  = "Paypal-Transmission-Sig"
	paypalCertURL          = "Paypal-Cert-Url"
	paypalAuthAlgo         = "Paypal-Auth-Algo"
)

const (
	// paypalCertTTL bounds how long a fetched certificate is trusted
	// before it is fetched again.
	paypalCertTTL = time.Hour
	// paypalTolerance: each delivery attempt is an HTTP transmission of
	// its own, with its own id, time and signature; PayPal mandates no
	// window, so 5 min as the other timestamped presets.
	paypalTolerance = 5 * time.Minute
)

var (
	// defaultPayPalHost is where PayPal serves its certificates, live and
	// sandbox.
	defaultPayPalHost = regexp.MustCompile(`^api(?:-m)?(?:\.sandbox)?\.paypal\.com$`)
	paypalCertPath    = regexp.MustCompile(`^/v1/notifications/certs/CERT-[0-9A-Za-z-]{1,100}$`)
)

// paypalScheme verifies PayPal's REST webhooks offline: RSA SHA-256 (the
// certificate at PAYPAL-CERT-URL, fetched under the fetch policy from an
// allowed host only) over "<transmission id>|<transmission time>|<webhook
// id>|<CRC32 of the body, decimal>". The webhook id is the listener's own,
// so a notification for another PayPal app's webhook does not verify. A
// CRC32 is no cryptographic hash: the signature binds the transmission,
// not the body, which anyone can replace by another of the same CRC32.
type paypalScheme struct {
	webhookID string
	hosts     *regexp.Regexp
	certs     *remote[*x509.Certificate]
}

func newPayPalScheme(p *preset, o Options) (*paypalScheme, error) {
	if o.PayPalWebhookID == "" {
		return nil, fmt.Errorf("needs the webhook's id: add `webhook_id <id>` to webhook_verify %s, as PayPal shows it for the listener URL", p.Name)
	}
	s := &paypalScheme{webhookID: o.PayPalWebhookID, hosts: defaultPayPalHost}
	if o.PayPalHost != "" {
		re, err := regexp.Compile(`^(?:` + o.PayPalHost + `)$`)
		if err != nil {
			return nil, fmt.Errorf("`paypal_host` is not a valid regexp: %w", err)
		}
		s.hosts = re
	}
	s.certs = newRemote(o.HTTPClient, paypalCertTTL, parseRSACert)
	return s, nil
}

// certURLAllowed: https, an allowed host, a certificate's path, and
// nothing else that could send the fetch elsewhere or mint new URLs for
// one certificate.
func (s *paypalScheme) certURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.User == nil && s.hosts.MatchString(u.Host) &&
		paypalCertPath.MatchString(u.EscapedPath()) && u.RawQuery == "" && !u.ForceQuery && u.Fragment == ""
}

func (s *paypalScheme) check(r *Request, now time.Time) (time.Time, string, error) {
	id, ts := headerValue(r.Header, paypalTransmissionID), headerValue(r.Header, paypalTransmissionTime)
	sig64, certURL := headerValue(r.Header, paypalTransmissionSig), headerValue(r.Header, paypalCertURL)
	if id == "" || ts == "" || sig64 == "" || certURL == "" {
		return time.Time{}, "", errMissing
	}
	at, tsErr := time.Parse(time.RFC3339Nano, ts)
	sig, sigErr := base64.StdEncoding.DecodeString(sig64)
	if tsErr != nil || sigErr != nil || headerValue(r.Header, paypalAuthAlgo) != "SHA256withRSA" || !s.certURLAllowed(certURL) {
		return time.Time{}, "", errMalformed
	}
	cert, err := s.certs.get(certURL, now, paypalCertTTL)
	if errors.Is(err, ErrKeyUnavailable) {
		return time.Time{}, "", err
	}
	if err != nil || now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return time.Time{}, "", errNoMatch
	}
	msg := id + "|" + ts + "|" + s.webhookID + "|" + strconv.FormatUint(uint64(crc32.ChecksumIEEE(r.Body)), 10)
	sum := sha256.Sum256([]byte(msg))
	if rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig) != nil {
		return time.Time{}, "", errNoMatch
	}
	return at, hexString(sum[:]), nil
}
