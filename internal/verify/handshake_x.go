package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// xCRC answers X's challenge-response check (GET ?crc_token=, when a
// webhook is registered and about hourly after): the token's HMAC-SHA256
// with the consumer secret, base64, as {"response_token":"sha256=..."}.
// With several secrets (a rotation) the first, the current one, answers.
func xCRC(c *handshakeConfig, r *Request, _ string) (*HandshakeAnswer, bool) {
	q, ok := query(r.URL)
	if !ok || q.Get("crc_token") == "" || len(c.keys) == 0 {
		return nil, false
	}
	m := hmac.New(sha256.New, []byte(c.keys[0].secret))
	m.Write([]byte(q.Get("crc_token")))
	return jsonAnswer(http.StatusOK, struct {
		ResponseToken string `json:"response_token"`
	}{"sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))}), true
}
