package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"maps"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
)

// twilioSettingsHeader switches the algorithm (Webhook Rules with a
// SharedKey): "key=<name>,algorithm=HMAC_SHA256".
const twilioSettingsHeader = "X-Twilio-Webhooks-Signature-Settings"

// twilioScheme verifies Twilio's base64 HMAC over the URL followed by the
// sorted form parameters, or, for JSON bodies, over the URL alone when its
// bodySHA256 query parameter matches the body.
type twilioScheme struct {
	header   string
	settings string
	keys     [][]byte
}

func newTwilioScheme(p *preset, secrets []string) (*twilioScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	s := &twilioScheme{
		header:   textproto.CanonicalMIMEHeaderKey(p.Header),
		settings: textproto.CanonicalMIMEHeaderKey(twilioSettingsHeader),
	}
	for _, secret := range secrets {
		s.keys = append(s.keys, []byte(secret))
	}
	return s, nil
}

// twilioAlgorithm reads the settings header; absent means HMAC-SHA1.
func twilioAlgorithm(settings string) (func() hash.Hash, bool) {
	if settings == "" {
		return sha1.New, true
	}
	for item := range strings.SplitSeq(settings, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		if k != "algorithm" {
			continue
		}
		switch v {
		case "HMAC_SHA1":
			return sha1.New, true
		case "HMAC_SHA256":
			return sha256.New, true
		}
		return nil, false
	}
	return sha1.New, true
}

// twilioURLs are the spellings twilio-node accepts: as given, without the
// port and with the (default) port.
func twilioURLs(raw string) []string {
	urls := []string{raw}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return urls
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, tail := rest[:end], rest[end:]
	hostname, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		hostname, port = host[:i], host[i+1:]
	}
	if port == "" {
		switch strings.ToLower(scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	for _, u := range []string{scheme + "://" + hostname + tail, scheme + "://" + hostname + ":" + port + tail} {
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// twilioParams concatenates the form parameters as Twilio signs them: keys
// sorted, each key followed by its value (repeated keys: values sorted).
func twilioParams(body []byte) (string, bool) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", false
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(form)) {
		vals := slices.Clone(form[k])
		slices.Sort(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.String(), true
}

// content is what Twilio signs of the body: the sorted parameters, or the
// body itself when its digest is in the URL (JSON bodies).
func (s *twilioScheme) content(r *Request) []byte {
	if u, err := url.Parse(r.URL); err == nil && u.Query().Get("bodySHA256") != "" {
		return r.Body
	}
	params, _ := twilioParams(r.Body)
	return []byte(params)
}

func (s *twilioScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	value := headerValue(r.Header, s.header)
	if value == "" {
		return time.Time{}, "", errMissing
	}
	sig, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return time.Time{}, "", errMalformed
	}
	newHash, ok := twilioAlgorithm(headerValue(r.Header, s.settings))
	if !ok {
		return time.Time{}, "", errMalformed
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return time.Time{}, "", errMalformed
	}
	var params string
	if bodyHash := u.Query().Get("bodySHA256"); bodyHash != "" {
		want, err := hex.DecodeString(bodyHash)
		sum := sha256.Sum256(r.Body)
		if err != nil || !hmac.Equal(want, sum[:]) {
			return time.Time{}, "", errNoMatch
		}
	} else if params, ok = twilioParams(r.Body); !ok {
		return time.Time{}, "", errMalformed
	}
	for _, key := range s.keys {
		for _, signedURL := range twilioURLs(r.URL) {
			m := hmac.New(newHash, key)
			m.Write([]byte(signedURL))
			m.Write([]byte(params))
			if hmac.Equal(m.Sum(nil), sig) {
				return time.Time{}, "", nil
			}
		}
	}
	return time.Time{}, "", errNoMatch
}
