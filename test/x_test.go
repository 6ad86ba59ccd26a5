package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
)

const xConfig = `{
	admin localhost:{{.Admin}}
	http_port {{.HTTP}}
	persist_config off
}
:{{.HTTP}} {
	handle /x {
		webhook_verify x {
			secret x-consumer-secret
		}
		reverse_proxy {{.Backend}}
	}
}`

// TestXCRCAtTheEdge: the built gateway answers X's challenge-response
// check itself, with the consumer secret, and passes nothing on.
func TestXCRCAtTheEdge(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, xConfig, gatewayVars{Backend: be.URL})
	g.Start()
	got := send(t, http.MethodGet, g.URL("/x?crc_token=abc-123"), nil, nil)
	m := hmac.New(sha256.New, []byte("x-consumer-secret"))
	m.Write([]byte("abc-123"))
	var answer struct {
		ResponseToken string `json:"response_token"`
	}
	if err := json.Unmarshal([]byte(got.Body), &answer); err != nil || got.Status != http.StatusOK ||
		answer.ResponseToken != "sha256="+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatalf("CRC: %d %q", got.Status, got.Body)
	}
	if n := len(be.Requests()); n != 0 {
		t.Errorf("the CRC check reached the backend (%d requests)", n)
	}
}
