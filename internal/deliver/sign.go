package deliver

import (
	"fmt"

	"github.com/webhook-ingress/caddy-webhook-ingress/internal/stdwebhooks"
)

// Signer re-signs deliveries the Standard Webhooks way.
type Signer = stdwebhooks.Signer

// NewSigner takes the secret as Standard Webhooks hands it out,
// "whsec_<base64 key>" (or the bare base64 key). Errors never contain the
// secret.
func NewSigner(secret string) (*Signer, error) {
	s, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		return nil, fmt.Errorf("sign standard: %w", err)
	}
	return s, nil
}
