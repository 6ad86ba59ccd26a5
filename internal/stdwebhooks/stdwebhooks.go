// Package stdwebhooks holds the one Standard Webhooks signer and whsec_
// secret decoder: the verifier's Standard Webhooks presets, `caddy webhook
// sign` and the delivery workers' re-signing all use it.
package stdwebhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors of DecodeSecret; like every error here they never contain the
// secret.
var (
	ErrSecretEncoding = errors.New("the secret is not whsec_ followed by base64")
	ErrSecretEmpty    = errors.New("the secret is empty")
)

// DecodeSecret returns the key of a secret as Standard Webhooks hands it
// out, "whsec_<base64 key>". Like the reference libraries it also accepts
// the bare base64 key.
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, ErrSecretEncoding
	}
	if len(key) == 0 {
		return nil, ErrSecretEmpty
	}
	return key, nil
}

// Signer makes webhook-signature values: "v1," +
// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
type Signer struct {
	key []byte
}

// NewSigner takes a secret as DecodeSecret does.
func NewSigner(secret string) (*Signer, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature value for one message.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	prefix := make([]byte, 0, len(id)+22)
	prefix = append(append(prefix, id...), '.')
	prefix = append(strconv.AppendInt(prefix, ts.Unix(), 10), '.')
	mac.Write(prefix)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
