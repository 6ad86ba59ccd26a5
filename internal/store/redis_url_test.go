package store

import (
	"strings"
	"testing"
)

// A Redis URL that cannot be used is refused without echoing its password.
func TestNewRedisErrorsHidePassword(t *testing.T) {
	for _, u := range []string{
		"redis://app:s3cr3t%zz@127.0.0.1:6379/0",
		"redis://app:s3cr3t@127.0.0.1:6379/notadb",
		"redis://app:s3cr3t@127.0.0.1:6379/0?frobnicate=1",
		"http://app:s3cr3t@127.0.0.1:6379/0",
		"redis://app:s3cr3t@127.0.0.1:port/0",
	} {
		_, err := NewRedis(RedisConfig{URL: u})
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
