package verify

import "testing"

func TestJSONField(t *testing.T) {
	body := []byte(` {"id":"evt_1","n":12345678901234567890,"f":1.5,"ok":true,"nil":null,
		"data":{"object":{"id":"pi_1","tags":["a","b"]}},"events":[{"id":"e0"},{"id":7}],"esc":"a\"b\u00e9"}`)
	cases := []struct {
		path string
		want string
		ok   bool
	}{
		{"id", "evt_1", true},
		{"n", "12345678901234567890", true},
		{"f", "1.5", true},
		{"ok", "true", true},
		{"esc", "a\"bé", true},
		{"data.object.id", "pi_1", true},
		{"data.object.tags.1", "b", true},
		{"events.0.id", "e0", true},
		{"events.1.id", "7", true},
		{"events.2.id", "", false},
		{"events.-1.id", "", false},
		{"events.x", "", false},
		{"nil", "", false},
		{"data", "", false},
		{"missing", "", false},
		{"id.deeper", "", false},
	}
	for _, c := range cases {
		got, ok := JSONField(body, c.path)
		if got != c.want || ok != c.ok {
			t.Errorf("JSONField(%q) = %q, %v; want %q, %v", c.path, got, ok, c.want, c.ok)
		}
	}
	for _, bad := range []string{"", "token=x&event_id=1", `{"id":`, `[1,2`, "null"} {
		if got, ok := JSONField([]byte(bad), "id"); ok {
			t.Errorf("JSONField(%q) = %q, true", bad, got)
		}
	}
}
