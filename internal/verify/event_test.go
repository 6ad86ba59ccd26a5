package verify

import (
	"net/http"
	"strings"
	"testing"
)

func TestEvent(t *testing.T) {
	long := strings.Repeat("a", maxEventLen+1)
	cases := []struct {
		provider string
		header   http.Header
		body     string
		want     string
	}{
		{"mux", nil, `{"type":"video.asset.ready","id":"e1"}`, "video.asset.ready"},
		{"stripe", nil, `{"id":"evt_1","type":"invoice.paid"}`, "invoice.paid"},
		{"shotstack", nil, `{"type":"edit","status":"failed"}`, "failed"},
		{"github", http.Header{"X-Github-Event": {"push"}}, `{"action":"x"}`, "push"},
		{"github", nil, `{"type":"push"}`, ""}, // GitHub names it in a header only
		{"slack", nil, `{"type":"event_callback","event":{"type":"app_mention"}}`, "app_mention"},
		{"slack", nil, `{"type":"event_callback"}`, "event_callback"},
		{"twitch", nil, `{"subscription":{"type":"channel.follow"}}`, "channel.follow"},
		{"bunny", nil, `{"VideoGuid":"g","Status":3}`, "3"},
		{"sns", nil, `{"Type":"Notification"}`, "Notification"},
		{"mux", nil, `not json`, ""},
		{"mux", nil, `{"type":{"nested":1}}`, ""},
		{"mux", nil, `{"type":"` + long + `"}`, ""},
		{"mux", nil, `{"type":"a\nb"}`, ""},
		{"github", http.Header{"X-Github-Event": {long}}, ``, ""},
		{"dropbox", nil, `{"type":"x"}`, ""},
	}
	for _, c := range cases {
		p, _ := presetByName(c.provider)
		e := newEventType(p.EventHeader, p.EventFields)
		got := e.of(&Request{Header: c.header, Body: []byte(c.body)})
		if got != c.want {
			t.Errorf("%s %q: event %q, want %q", c.provider, c.body, got, c.want)
		}
	}
}

// TestEventHeadersCanonical: a header named in any case is found.
func TestEventHeadersCanonical(t *testing.T) {
	for _, p := range presets {
		if p.EventHeader == "" {
			continue
		}
		e := newEventType(p.EventHeader, p.EventFields)
		h := http.Header{}
		h.Set(p.EventHeader, "some.event")
		if got := e.of(&Request{Header: h}); got != "some.event" {
			t.Errorf("%s: event %q from header %s", p.Name, got, p.EventHeader)
		}
	}
}
