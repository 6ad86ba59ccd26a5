package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"
)

// SignStandard returns the Standard Webhooks webhook-signature value
// "v1,<base64>" for a whsec_ secret, a message id, a timestamp and a body.
func SignStandard(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := macKeyBytes(keyWhsec, secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}
