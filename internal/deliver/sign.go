package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Signer signs deliveries the Standard Webhooks way: webhook-signature is
// "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
type Signer struct {
	key []byte
}

// NewSigner takes the secret as Standard Webhooks hands it out,
// "whsec_<base64 key>". Like the reference libraries it also accepts the bare
// base64 key. Errors never contain the secret.
func NewSigner(secret string) (*Signer, error) {
	encoded := strings.TrimPrefix(secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("sign standard: the secret is not whsec_ followed by base64")
	}
	if len(key) == 0 {
		return nil, errors.New("sign standard: the secret is empty")
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
