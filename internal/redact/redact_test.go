package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://user:secret@127.0.0.1:9000/x", "http://xxxxx@127.0.0.1:9000/x"},
		{"https://token@hooks.internal/events?a=1", "https://xxxxx@hooks.internal/events?a=1"},
		{"redis://:secret@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"rediss://default:s%40cret@redis.internal:6380/2", "rediss://xxxxx@redis.internal:6380/2"},
		{"http://127.0.0.1:9000/events", "http://127.0.0.1:9000/events"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		// Not URLs Go parses with a host: cut by hand.
		{"user:secret@127.0.0.1:6379", "xxxxx@127.0.0.1:6379"},
		{"http://user:se cret@host/x", "http://xxxxx@host/x"},
		{"redis://user:se%zzcret@host:6379", "redis://xxxxx@host:6379"},
		{"tcp://user:p/ss@host:6379", "tcp://xxxxx@host:6379"},
		{"", ""},
	} {
		got := URL(c.in)
		if got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "cret") {
			t.Errorf("URL(%q) = %q shows the password", c.in, got)
		}
	}
}
