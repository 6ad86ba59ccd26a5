package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"time"
)

// mailgunScheme verifies Mailgun's signature, which travels in the JSON body:
// signature.signature = hex HMAC-SHA256(key, signature.timestamp +
// signature.token). The event itself is not signed; the token, random per
// delivery, is the nonce.
type mailgunScheme struct {
	keys [][]byte
}

// mailgunSigned is the part of a Mailgun webhook that carries the signature.
// Raw values let the timestamp be a JSON string or number.
type mailgunSigned struct {
	Signature struct {
		Timestamp json.RawMessage `json:"timestamp"`
		Token     json.RawMessage `json:"token"`
		Signature json.RawMessage `json:"signature"`
	} `json:"signature"`
}

func newMailgunScheme(p *preset, secrets []string) (*mailgunScheme, error) {
	if len(secrets) == 0 {
		return nil, errNeedSecret(p.Name)
	}
	s := &mailgunScheme{}
	for _, secret := range secrets {
		s.keys = append(s.keys, []byte(secret))
	}
	return s, nil
}

func (s *mailgunScheme) check(r *Request, _ time.Time) (time.Time, string, error) {
	var body mailgunSigned
	if json.Unmarshal(r.Body, &body) != nil {
		return time.Time{}, "", errMalformed
	}
	rawTS, _ := scalarText(body.Signature.Timestamp)
	token, _ := scalarText(body.Signature.Token)
	sigHex, _ := scalarText(body.Signature.Signature)
	if rawTS == "" || token == "" || sigHex == "" {
		return time.Time{}, "", errMissing
	}
	ts, ok := parseTimestamp("unix", rawTS)
	var sig [sha256.Size]byte
	if n, hexOK := decodeSig(sig[:], "hex", sigHex); !ok || !hexOK || n != sha256.Size {
		return time.Time{}, "", errMalformed
	}
	for _, key := range s.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(rawTS))
		m.Write([]byte(token))
		if hmac.Equal(m.Sum(nil), sig[:]) {
			return ts, token, nil
		}
	}
	return time.Time{}, "", errNoMatch
}
