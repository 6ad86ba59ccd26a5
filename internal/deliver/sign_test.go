package deliver

import (
	"strings"
	"testing"
)

// vectorSecret is the Standard Webhooks reference vector's secret.
const vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// A secret that cannot sign is refused as the `sign standard` setting,
// without the secret in the error.
func TestNewSignerNamesTheSetting(t *testing.T) {
	if _, err := NewSigner(vectorSecret); err != nil {
		t.Fatal(err)
	}
	const bad = "whsec_not base64!"
	_, err := NewSigner(bad)
	if err == nil || !strings.HasPrefix(err.Error(), "sign standard: ") || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("NewSigner(%q) = %v", bad, err)
	}
}
