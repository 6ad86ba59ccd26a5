package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	contentfulSignedHeaders = "x-contentful-signed-headers"
	contentfulTimestamp     = "x-contentful-timestamp"
)

// contentfulScheme verifies Contentful's HMAC over a canonical request,
// rebuilt as @contentful/node-apps-toolkit's verifyRequest does:
// METHOD \n normalized path \n sorted "name:value" signed headers joined
// by ";" \n BODY.
type contentfulScheme struct {
	header string
	keys   [][]byte
}

func newContentfulScheme(p *preset, secrets []string) (*contentfulScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	s := &contentfulScheme{header: textproto.CanonicalMIMEHeaderKey(p.Header)}
	for _, secret := range secrets {
		s.keys = append(s.keys, []byte(secret))
	}
	return s, nil
}

func (s *contentfulScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	var sig [sha256.Size]byte
	value := headerValue(r.Header, s.header)
	list := headerValue(r.Header, textproto.CanonicalMIMEHeaderKey(contentfulSignedHeaders))
	rawTS := strings.TrimSpace(headerValue(r.Header, textproto.CanonicalMIMEHeaderKey(contentfulTimestamp)))
	if value == "" || list == "" || rawTS == "" {
		return time.Time{}, "", errMissing
	}
	ms, err := strconv.ParseInt(rawTS, 10, 64)
	if n, ok := decodeSig(sig[:], "hex", value); err != nil || !ok || n != sha256.Size {
		return time.Time{}, "", errMalformed
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return time.Time{}, "", errMalformed
	}

	// The toolkit signs the listed headers that are present, plus the
	// timestamp and the list itself as it recomputes them.
	names := []string{contentfulSignedHeaders, contentfulTimestamp}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if len(r.Header.Values(name)) > 0 && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	pairs := make([]string, len(names))
	for i, name := range names {
		var v string
		switch name {
		case contentfulSignedHeaders:
			v = strings.Join(names, ",")
		case contentfulTimestamp:
			v = strconv.FormatInt(ms, 10)
		default:
			v = strings.TrimSpace(r.Header.Get(name))
		}
		pairs[i] = name + ":" + v
	}
	canonical := strings.Join([]string{r.Method, contentfulPath(u.RequestURI()), strings.Join(pairs, ";"), ""}, "\n")

	for _, key := range s.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(canonical))
		m.Write(r.Body)
		sum := m.Sum(nil)
		if hmac.Equal(sum, sig[:]) {
			return time.UnixMilli(ms), hexString(sum), nil
		}
	}
	return time.Time{}, "", errNoMatch
}

// contentfulPath is the toolkit's getNormalizedEncodedURI: the query is
// escaped as querystring.escape does, then the whole as encodeURI does.
func contentfulPath(uri string) string {
	parts := strings.Split(uri, "?")
	path := parts[0]
	if len(parts) > 1 && parts[1] != "" {
		path += "?" + escapeJS(parts[1], "-_.!~*'()")
	}
	return escapeJS(path, "-_.!~*'();/?:@&=+$,#")
}

// escapeJS percent-encodes every byte except ASCII letters, digits and
// keep, as JavaScript's encodeURI/encodeURIComponent do on UTF-8.
func escapeJS(s, keep string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
