package stdwebhooks

import (
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks reference vector (libraries/go/webhook_test.go).
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignerVector(t *testing.T) {
	for _, secret := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, "whsec_")} {
		s, err := NewSigner(secret)
		if err != nil {
			t.Fatalf("NewSigner: %v", err)
		}
		if got := s.Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)); got != vectorSig {
			t.Errorf("Sign = %s, want %s", got, vectorSig)
		}
	}
}

func TestSignerChangesWithEveryInput(t *testing.T) {
	s, _ := NewSigner(vectorSecret)
	other, _ := NewSigner("whsec_" + "c2Vjb25kLXNlY3JldC1rZXktYnl0ZXM=")
	for name, got := range map[string]string{
		"id":     s.Sign(vectorID+"x", time.Unix(vectorTS, 0), []byte(vectorBody)),
		"ts":     s.Sign(vectorID, time.Unix(vectorTS+1, 0), []byte(vectorBody)),
		"body":   s.Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody+" ")),
		"secret": other.Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)),
	} {
		if got == vectorSig {
			t.Errorf("changing the %s left the signature unchanged", name)
		}
	}
}

func TestNewSignerRejects(t *testing.T) {
	for _, secret := range []string{
		"",
		"whsec_",
		"whsec_not base64!",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", // truncated
		"sk_live_plain-api-key",
	} {
		s, err := NewSigner(secret)
		if err == nil {
			t.Errorf("NewSigner(%q) = %v, want an error", secret, s)
			continue
		}
		if key := strings.TrimPrefix(secret, "whsec_"); key != "" && strings.Contains(err.Error(), key) {
			t.Errorf("error %q contains the secret", err)
		}
	}
}
