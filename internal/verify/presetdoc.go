package verify

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// PresetDoc describes one provider preset, generated from the preset table
// so that the documentation cannot drift from the code.
type PresetDoc struct {
	Provider  string
	Scheme    string // kind and algorithm, with the signed content
	Headers   string // where the signature (and timestamp) travel
	Tolerance string // timestamp window, "–" when none is checked
	DedupID   string // where the event id comes from, "–" when none
	Event     string // where the event type comes from, "–" when none
	Signed    string // what the signature covers, then the inputs read unsigned
	Claim     string // what keys the claim, and how long a resend is refused
	Source    string // the provider's documentation or SDK
	Proof     string // how the tests prove the preset
}

// PresetDocs documents every preset, in Providers() order.
func PresetDocs() []PresetDoc {
	docs := make([]PresetDoc, 0, len(presets))
	for _, name := range Providers() {
		p, _ := presetByName(name)
		docs = append(docs, PresetDoc{
			Provider: p.Name, Scheme: p.schemeDoc(), Headers: p.headersDoc(),
			Tolerance: p.toleranceDoc(), DedupID: p.dedupDoc(), Event: p.eventDoc(), Signed: p.signedDoc(), Claim: p.claimDoc(), Source: p.Source, Proof: p.Proof,
		})
	}
	return docs
}

// PresetTable renders PresetDocs as a Markdown table (docs/presets.md's).
func PresetTable() string {
	var b strings.Builder
	b.WriteString("| Provider | Scheme | Headers | Tolerance | Dedup id | Event type | Signature covers | Claim key: a resend is refused | Source | Proof |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range PresetDocs() {
		cells := []string{"`" + d.Provider + "`", d.Scheme, d.Headers, d.Tolerance, d.DedupID, d.Event, d.Signed, d.Claim, d.Source, d.Proof}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

func code(s string) string { return "`" + s + "`" }

func (p *preset) schemeDoc() string {
	alg := strings.ToUpper(p.Algorithm)
	signed := ""
	if p.Signed != "" {
		signed = " of " + code(p.Signed)
	}
	switch p.Kind {
	case kindHMAC:
		key := ""
		if p.Key == keyWhsec {
			key = ", whsec_ key"
		}
		return fmt.Sprintf("HMAC-%s %s%s%s", alg, p.Encoding, signed, key)
	case kindHash:
		return fmt.Sprintf("%s %s%s (plain hash)", alg, p.Encoding, signed)
	case kindEd25519:
		return "Ed25519 " + p.Encoding + signed
	case kindECDSA:
		return "ECDSA P-256 SHA-256 " + p.Encoding + signed
	case kindRSA:
		return "RSA PKCS#1 v1.5 " + alg + " " + p.Encoding + signed
	case kindJWT:
		return "JWT HS256 (iss = API key), claim sha256 = base64 SHA-256 of the body"
	case kindTwilio:
		return "HMAC-SHA1 base64 of URL + sorted form params (JSON: bodySHA256 query)"
	case kindContentful:
		return "HMAC-SHA256 hex of the canonical request"
	case kindToken:
		return "shared token, constant-time compare"
	case kindBasic:
		return "HTTP basic auth"
	case kindMailgun:
		return "HMAC-SHA256 hex of " + code("{timestamp}{token}") + " (body not signed)"
	case kindJWTBody:
		return "JWT HS256 whose claims equal the JSON body"
	case kindSNS:
		return "RSA SHA1 (v1) / SHA256 (v2) of the canonical message, cert from SigningCertURL"
	case kindOIDC:
		return "Google OIDC JWT RS256 (JWKS); iss, aud, email, email_verified, exp"
	case kindNetlify:
		return "JWS HS256, iss netlify, claim sha256 = hex SHA-256 of the body"
	case kindFal:
		return "Ed25519 hex (fal's JWKS) of `{request id}\\n{user id}\\n{timestamp}\\n{hex SHA-256 of the body}`"
	case kindPayPal:
		return "RSA SHA-256 base64 (certificate from PAYPAL-CERT-URL) of `{transmission id}|{transmission time}|{webhook id}|{CRC32 of the body}`"
	case kindPlaid:
		return "JWT ES256 (key by kid from Plaid's API), iat, claim request_body_sha256 = hex SHA-256 of the body"
	case kindHygraph:
		return "HMAC-SHA256 base64 of JSON.stringify({Body, EnvironmentName, TimeStamp})"
	case kindBraintree:
		return "HMAC-SHA1 hex (key: SHA-1 of the private key) of the form's bt_payload"
	}
	return ""
}

func (p *preset) headersDoc() string {
	var parts []string
	switch {
	case p.Kind == kindMailgun:
		parts = append(parts, "body "+code("signature.{timestamp,token,signature}"))
	case p.Kind == kindSNS:
		parts = append(parts, "body "+code("Signature")+", "+code("SigningCertURL"))
	case p.Kind == kindBraintree:
		parts = append(parts, "form "+code("bt_signature")+", "+code("bt_payload"))
	case p.Kind == kindContentful:
		parts = append(parts, code(p.Header), code(contentfulSignedHeaders))
	case p.Kind == kindJWTBody || p.Kind == kindOIDC:
		parts = append(parts, code(p.Header+": Bearer"))
	case p.Header != "":
		h := code(p.Header)
		switch {
		case p.List.carriesTimestamp():
			h += fmt.Sprintf(" (%s=…%c%s=…)", p.List.tsKey, p.List.sep, p.List.sigKey)
		case p.Prefix != "":
			h += " (" + code(p.Prefix) + ")"
		}
		parts = append(parts, h)
	case p.Query != "":
		parts = append(parts, code("?"+p.Query+"="))
	default:
		parts = append(parts, "configured")
	}
	if p.TimestampField != "" {
		parts = append(parts, "body "+code(p.TimestampField))
	}
	if p.TimestampHeader != "" {
		parts = append(parts, code(p.TimestampHeader))
	}
	return strings.Join(parts, ", ")
}

func (p *preset) toleranceDoc() string {
	switch {
	case p.Kind == kindOIDC:
		return "token iat/exp, " + fmtDuration(googleSkew) + " skew, " + fmtDuration(googleMaxLifetime) + " at most"
	case p.Kind == kindSNS:
		return fmtDuration(p.Tolerance) + " (ahead: " + fmtDuration(snsFutureSkew) + ")"
	case p.Tolerance == 0:
		return "–"
	case len(p.Takes) > 0 && p.Signed == "{body}" && p.TimestampHeader == "":
		return fmtDuration(p.Tolerance) + " (if a timestamp is configured)"
	}
	return fmtDuration(p.Tolerance)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%d s", d/time.Second)
}

func (p *preset) dedupDoc() string {
	var parts []string
	for _, h := range p.IDHeaders {
		parts = append(parts, "header "+code(h))
	}
	if len(p.IDFields) > 0 {
		parts = append(parts, "body "+code(strings.Join(p.IDFields, "+")))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", else ")
}

// eventDoc says where the event type ({http.webhook.event}) is read, and
// whether the signature covers it: an unsigned type can be changed by
// whoever holds a captured request, and routes it elsewhere.
func (p *preset) eventDoc() string {
	var parts []string
	signed := p.Covers == 0 // a credential vouches for the whole request
	if p.EventHeader != "" {
		parts = append(parts, "header "+code(p.EventHeader))
	}
	if len(p.EventFields) > 0 {
		fields := make([]string, len(p.EventFields))
		for i, f := range p.EventFields {
			fields[i] = code(f)
		}
		parts = append(parts, "body "+strings.Join(fields, " else "))
		signed = signed || p.Covers&coversBody != 0 || p.Kind == kindSNS
	}
	if len(parts) == 0 {
		return "–"
	}
	doc := strings.Join(parts, ", else ")
	if !signed {
		doc += " (unsigned)"
	}
	return doc
}

// signedDoc lists what the signature covers of the inputs the gateway
// decides on, then those it reads unsigned: a captured request can be sent
// again with another value of these.
func (p *preset) signedDoc() string {
	if slices.Contains(p.Takes, optSigned) {
		return "body, and the timestamp, id and URL that " + code("signed") + " names"
	}
	var signed, unsigned []string
	switch {
	case p.Kind == kindSNS:
		signed = append(signed, "the canonical fields")
		unsigned = append(unsigned, "the other body fields")
	case p.Covers&coversBody != 0:
		signed = append(signed, "body")
	default:
		unsigned = append(unsigned, "body")
	}
	if p.Covers&coversTimestamp != 0 {
		signed = append(signed, "timestamp")
	}
	if p.Kind == kindMailgun {
		signed = append(signed, "token")
	}
	if len(p.IDHeaders) > 0 || len(p.IDFields) > 0 {
		switch {
		case p.Covers&coversID != 0:
			signed = append(signed, "id")
		case len(p.IDHeaders) > 0:
			unsigned = append(unsigned, "id ("+codes(p.IDHeaders)+")")
		default:
			unsigned = append(unsigned, "id")
		}
	}
	if p.Covers&coversURL != 0 {
		signed = append(signed, "URL")
	}
	headers, query := p.credentials()
	switch {
	case len(headers) > 0:
		unsigned = append(unsigned, "credential "+codes(headers)+" (removed)")
	case query != "":
		unsigned = append(unsigned, "credential "+code("?"+query+"=")+" (removed)")
	case p.Credential:
		unsigned = append(unsigned, "credential (removed)")
	}
	doc := "nothing"
	if len(signed) > 0 {
		doc = strings.Join(signed, ", ")
	}
	if len(unsigned) > 0 {
		doc += "; unsigned: " + strings.Join(unsigned, ", ")
	}
	return doc
}

func codes(list []string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = code(s)
	}
	return strings.Join(out, ", ")
}

// claimDoc says what keys a request's claim (see the glue's claimFor) and
// for how long a resend of the same event is refused: for good where a
// timestamp is signed (409 replayed within the window, 401 after it), for
// the dedup window (24 h by default) where none is.
func (p *preset) claimDoc() string {
	hasID := len(p.IDHeaders) > 0 || len(p.IDFields) > 0
	key := "body digest"
	switch {
	case p.Covers == 0 && hasID:
		key = "id"
	case p.Covers&coversID != 0 && hasID:
		key = "signed id"
	case p.Covers&coversBody == 0 && p.Covers != 0:
		key = "signed nonce"
	}
	switch {
	case slices.Contains(p.Takes, optSigned):
		return key + " (id when " + code("signed") + " names it): for good with a signed timestamp, else for the dedup window"
	case p.Covers == 0:
		return key + ": for the dedup window; whoever holds the credential can send anything"
	case p.Covers&coversTimestamp != 0:
		return key + ": for good"
	}
	return key + ": for the dedup window only"
}
