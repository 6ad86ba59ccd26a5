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
	handle /youtube {
		webhook_verify youtube {
			secret hub-secret
			verify_token yt-token
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

// TestWebSubIntentAtTheEdge: the built gateway confirms a YouTube (WebSub)
// subscription's intent itself, only with the configured verify token.
func TestWebSubIntentAtTheEdge(t *testing.T) {
	be := newBackend(t)
	g := newGateway(t, xConfig, gatewayVars{Backend: be.URL})
	g.Start()
	intent := "/youtube?hub.mode=subscribe&hub.topic=https%3A%2F%2Fwww.youtube.com%2Fxml%2Ffeeds%2Fvideos.xml%3Fchannel_id%3DUC1&hub.challenge=8152"
	if got := send(t, http.MethodGet, g.URL(intent+"&hub.verify_token=yt-token"), nil, nil); got.Status != http.StatusOK || got.Body != "8152" {
		t.Errorf("intent with the verify token: %d %q", got.Status, got.Body)
	}
	if got := send(t, http.MethodGet, g.URL(intent+"&hub.verify_token=other"), nil, nil); got.Status != http.StatusForbidden {
		t.Errorf("intent with another verify token: %d %q", got.Status, got.Body)
	}
	if n := len(be.Requests()); n != 0 {
		t.Errorf("the intent check reached the backend (%d requests)", n)
	}
}
