package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/stdwebhooks"
)

// ErrSignUnsupported is wrapped by Sign's error for a provider whose
// signature cannot be made with a shared secret.
var ErrSignUnsupported = errors.New("signing not supported")

// SignRequest is what Sign signs.
type SignRequest struct {
	// URL is where the request is posted; required by schemes that sign
	// it (Twilio, Square, Contentful, {url}) or carry a token in it.
	URL  string
	Body []byte
	// ID is the event id for presets that send one in a header; "" takes
	// the id header from Header, else generates a UUID.
	ID string
	// Now is the signing time; zero means time.Now().
	Now time.Time
	// Header is sent along, and signed where the scheme signs headers
	// ({header.X}, Contentful).
	Header http.Header
}

// livekitTokenTTL is how long LiveKit's webhook tokens are valid.
const livekitTokenTTL = 5 * time.Minute

// Sign returns the headers the provider would send with r.Body (r.Header
// included) and the URL to post to: r.URL, plus the token for query-token
// schemes or bodySHA256 for Twilio JSON bodies. It signs with the first
// secret and validates o as New does. Providers that sign with their own
// private key (ed25519, ECDSA, RSA, SNS, Pub/Sub) or inside the body
// (Mailgun) give an error wrapping ErrSignUnsupported.
func Sign(provider string, o Options, r SignRequest) (http.Header, string, error) {
	p, ok := presetByName(provider)
	if !ok {
		return nil, "", fmt.Errorf("unknown webhook provider %q; known providers: %s",
			provider, strings.Join(Providers(), ", "))
	}
	sign, ok := signers[p.Kind]
	if !ok {
		reason, known := unsignable[p.Kind]
		if !known {
			reason = "Sign has no signer for this scheme"
		}
		return nil, "", fmt.Errorf("%w for provider %s: %s", ErrSignUnsupported, p.Name, reason)
	}
	if err := p.apply(o); err != nil {
		return nil, "", err
	}
	if len(o.Secrets) == 0 {
		return nil, "", fmt.Errorf("provider %s: %w", p.Name, errNeedSecret(p.Name))
	}
	// Building the verifier's scheme validates the options exactly as New
	// does.
	if _, _, err := p.build(o); err != nil {
		return nil, "", fmt.Errorf("provider %s: %w", p.Name, err)
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	s := &signer{p: &p, secret: o.Secrets[0], keyID: o.KeyID, r: r, url: r.URL, h: http.Header{}}
	for k, vals := range r.Header {
		for _, v := range vals {
			s.h.Add(k, v) // canonical keys, as the schemes look them up
		}
	}
	s.setID()
	if err := sign(s); err != nil {
		return nil, "", fmt.Errorf("provider %s: %w", p.Name, err)
	}
	return s.h, s.url, nil
}

// signers produce the kinds keyed by a shared secret.
var signers = map[kind]func(*signer) error{
	kindHMAC:       (*signer).mac,
	kindHash:       (*signer).mac,
	kindToken:      (*signer).token,
	kindBasic:      (*signer).basic,
	kindTwilio:     (*signer).twilio,
	kindContentful: (*signer).contentful,
	kindJWT:        (*signer).jwt,
	kindJWTBody:    (*signer).jwtBody,
	kindNetlify:    (*signer).netlify,
	kindHygraph:    (*signer).hygraph,
}

// unsignable says why Sign does not produce the other kinds.
var unsignable = map[kind]string{
	kindEd25519:   needsPrivateKey,
	kindECDSA:     needsPrivateKey,
	kindRSA:       needsPrivateKey,
	kindSNS:       needsPrivateKey,
	kindOIDC:      needsPrivateKey,
	kindFal:       needsPrivateKey,
	kindPayPal:    needsPrivateKey,
	kindPlaid:     needsPrivateKey,
	kindMailgun:   signatureInBody,
	kindBraintree: signatureInBody,
}

const needsPrivateKey = "signing needs the provider's private key; use the provider's own tooling"

const signatureInBody = "the signature is a field of the body, and Sign does not rewrite the body"

type signer struct {
	p      *preset
	secret string
	keyID  string
	r      SignRequest
	url    string
	h      http.Header
	id     string
}

var errNeedURL = errors.New("needs the URL the provider posts to")

// setID sends the event id in the preset's id header, if it has one.
func (s *signer) setID() {
	if len(s.p.IDHeaders) == 0 {
		return
	}
	s.id = s.r.ID
	if s.id == "" {
		s.id = s.h.Get(s.p.IDHeaders[0])
	}
	if s.id == "" {
		s.id = uuid.NewString()
	}
	s.h.Set(s.p.IDHeaders[0], s.id)
}

// mac is the inverse of macScheme.check and parseSigHeader.
func (s *signer) mac() error {
	isHash := s.p.Kind == kindHash
	tmpl, err := parseTemplate(s.p.Signed, isHash)
	if err != nil {
		return err
	}
	if tmpl.uses(partURL) && s.url == "" {
		return errNeedURL
	}
	v := signedVars{body: s.r.Body, url: s.url, method: http.MethodPost, header: s.h, id: s.id}
	if err := s.timestamp(tmpl, &v); err != nil {
		return err
	}
	newHash, err := hashFunc(s.p.Algorithm)
	if err != nil {
		return err
	}
	var h hash.Hash
	if isHash {
		h, v.secret = newHash(), s.secret
	} else {
		key, err := macKeyBytes(s.p.Key, s.secret)
		if err != nil {
			return err
		}
		h = hmac.New(newHash, key)
	}
	h.Write(tmpl.appendTo(nil, &v))
	sig := encodeSig(s.p.Encoding, h.Sum(nil))

	if l := s.p.List; l.carriesTimestamp() {
		s.h.Set(s.p.Header, l.tsKey+"="+v.timestamp+string(l.sep)+l.sigKey+"="+sig)
	} else {
		s.h.Set(s.p.Header, s.p.Prefix+sig)
	}
	return nil
}

// timestamp sets the signed timestamp: the body's own when the preset
// reads it from the body (Linear), else now, sent in the timestamp header
// unless the signature header carries it.
func (s *signer) timestamp(tmpl template, v *signedVars) error {
	if s.p.TimestampField != "" {
		if v.timestamp, _ = JSONField(s.r.Body, s.p.TimestampField); v.timestamp == "" {
			return fmt.Errorf("the body needs its %s field, which carries the signed timestamp", s.p.TimestampField)
		}
		return nil
	}
	if !tmpl.uses(partTimestamp) {
		return nil
	}
	v.timestamp = formatTimestamp(s.p.TimestampFormat, s.r.Now)
	if !s.p.List.carriesTimestamp() {
		s.h.Set(s.p.TimestampHeader, v.timestamp)
	}
	return nil
}

func formatTimestamp(format string, t time.Time) string {
	switch format {
	case "unix_ms":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "rfc3339":
		return t.UTC().Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func encodeSig(encoding string, sum []byte) string {
	switch encoding {
	case "base64":
		return base64.StdEncoding.EncodeToString(sum)
	case "base64url":
		return base64.URLEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}

func (s *signer) token() error {
	token := s.p.Prefix + s.secret
	if s.p.Query == "" {
		s.h.Set(s.p.Header, token)
		return nil
	}
	u, err := url.Parse(s.url)
	if s.url == "" || err != nil {
		return errNeedURL
	}
	q := u.Query()
	q.Set(s.p.Query, token)
	u.RawQuery = q.Encode()
	s.url = u.String()
	return nil
}

func (s *signer) basic() error {
	s.h.Set(s.p.Header, "Basic "+base64.StdEncoding.EncodeToString([]byte(s.secret)))
	return nil
}

// twilio signs a form body as the URL plus its sorted parameters, and a
// JSON body as the URL with bodySHA256 appended, as Twilio does.
func (s *signer) twilio() error {
	if s.url == "" {
		return errNeedURL
	}
	newHash, ok := twilioAlgorithm(s.h.Get(twilioSettingsHeader))
	if !ok {
		return errors.New("unknown algorithm in " + twilioSettingsHeader)
	}
	var params string
	if isJSON(s.h.Get("Content-Type"), s.r.Body) {
		sum := sha256.Sum256(s.r.Body)
		sep := "?"
		if strings.Contains(s.url, "?") {
			sep = "&"
		}
		s.url += sep + "bodySHA256=" + hex.EncodeToString(sum[:])
		setDefault(s.h, "Content-Type", "application/json")
	} else {
		if params, ok = twilioParams(s.r.Body); !ok {
			return errors.New("the body is neither JSON nor a form")
		}
		setDefault(s.h, "Content-Type", "application/x-www-form-urlencoded")
	}
	m := hmac.New(newHash, []byte(s.secret))
	m.Write([]byte(s.url + params))
	s.h.Set(s.p.Header, base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return nil
}

// isJSON goes by the content type when there is one, else by the body.
func isJSON(contentType string, body []byte) bool {
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
	}
	return len(body) > 0 && json.Valid(body)
}

func setDefault(h http.Header, key, value string) {
	if h.Get(key) == "" {
		h.Set(key, value)
	}
}

// contentful signs every header of the request, as the toolkit's
// signRequest does, with the method POST.
func (s *signer) contentful() error {
	u, err := url.Parse(s.url)
	if s.url == "" || err != nil {
		return errNeedURL
	}
	s.h.Del(contentfulSignedHeaders)
	s.h.Set(contentfulTimestamp, strconv.FormatInt(s.r.Now.UnixMilli(), 10))
	names := []string{contentfulSignedHeaders}
	for k := range s.h {
		names = append(names, strings.ToLower(k))
	}
	slices.Sort(names)
	s.h.Set(contentfulSignedHeaders, strings.Join(names, ","))
	pairs := make([]string, len(names))
	for i, name := range names {
		pairs[i] = name + ":" + strings.TrimSpace(s.h.Get(name))
	}
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte(strings.Join([]string{http.MethodPost, contentfulPath(u.RequestURI()), strings.Join(pairs, ";"), ""}, "\n")))
	m.Write(s.r.Body)
	s.h.Set(s.p.Header, hex.EncodeToString(m.Sum(nil)))
	return nil
}

// jwt makes LiveKit's token: HS256 from the API key, with the body's hash.
func (s *signer) jwt() error {
	sum := sha256.Sum256(s.r.Body)
	claims, _ := json.Marshal(bodyHashClaims{ // plain strings and numbers: cannot fail
		Claims: jwt.Claims{
			Issuer:    s.keyID,
			NotBefore: jwt.NewNumericDate(s.r.Now),
			Expiry:    jwt.NewNumericDate(s.r.Now.Add(livekitTokenTTL)),
		},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	})
	token, err := signHS256(s.secret, claims)
	if err != nil {
		return err
	}
	s.h.Set(s.p.Header, token)
	return nil
}

// jwtBody makes JW Player's token: HS256 whose claims are the JSON body.
func (s *signer) jwtBody() error {
	var claims map[string]any
	if decodeJSON(s.r.Body, &claims) != nil || claims == nil {
		return errors.New("the body must be a JSON object: it becomes the token's claims")
	}
	payload, _ := json.Marshal(claims) // decoded JSON: cannot fail
	token, err := signHS256(s.secret, payload)
	if err != nil {
		return err
	}
	s.h.Set(s.p.Header, "Bearer "+token)
	return nil
}

// signHS256 returns the compact JWT of the JSON claims, HMAC-SHA256 keyed
// with secret.
func signHS256(secret string, claims []byte) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey(secret)},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// SignStandard returns the Standard Webhooks webhook-signature value
// "v1,<base64>" for a whsec_ secret, a message id, a timestamp and a body.
func SignStandard(secret, id string, ts time.Time, body []byte) (string, error) {
	s, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		return "", err
	}
	return s.Sign(id, ts, body), nil
}
