package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// TestTwilioSHA256Settings: Webhook Rules sign with HMAC-SHA256 and say so
// in X-Twilio-Webhooks-Signature-Settings.
func TestTwilioSHA256Settings(t *testing.T) {
	const url = "https://mycompany.com/myapp.php?foo=1&bar=2"
	m := hmac.New(sha256.New, []byte("shared-key"))
	m.Write([]byte(url + "Digits1234To+18005551212"))
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	v := mustNew(t, "twilio", secrets("shared-key"))
	req := func(settings string) *Request {
		h := hdr("X-Twilio-Signature", sig)
		if settings != "" {
			h.Set(twilioSettingsHeader, settings)
		}
		return &Request{Method: "POST", URL: url, Header: h, Body: []byte("To=%2B18005551212&Digits=1234")}
	}
	if _, err := v.Verify(req("key=main,algorithm=HMAC_SHA256")); err != nil {
		t.Fatalf("HMAC_SHA256: %v", err)
	}
	_, err := v.Verify(req(""))
	wantErr(t, err, ErrInvalidSignature)
	_, err = v.Verify(req("algorithm=HMAC_MD5"))
	wantErr(t, err, ErrInvalidSignature)
}
