package verify

import (
	"strings"
	"testing"
	"time"
)

func TestNewErrors(t *testing.T) {
	neg := -time.Second
	cases := []struct {
		name     string
		provider string
		opts     Options
		want     []string // substrings of the error
	}{
		{"unknown provider lists the known ones", "strype", Options{}, []string{`"strype"`, "stripe", "standard", "github"}},
		{"missing secret", "stripe", Options{}, []string{"stripe", "`secret"}},
		{"missing public key", "discord", Options{}, []string{"discord", "`public_key"}},
		{"bad ed25519 key", "discord", Options{PublicKeys: []string{"zz"}}, []string{"public_key", "ed25519"}},
		{"short ed25519 key", "discord", Options{PublicKeys: []string{"abcd"}}, []string{"64 hex"}},
		{"bad ECDSA key", "sendgrid", Options{PublicKeys: []string{"bm9wZQ=="}}, []string{"public_key", "P-256"}},
		{"RSA key for ECDSA", "sendgrid", Options{PublicKeys: []string{spki(testRSA)}}, []string{"P-256"}},
		{"bad whsec secret", "standard", Options{Secrets: []string{"whsec_not base64!"}}, []string{"whsec_", "base64"}},
		{"livekit needs key id", "livekit", Options{Secrets: []string{"s"}}, []string{"api_key", "secret"}},
		{"livekit needs secret", "livekit", Options{KeyID: "k"}, []string{"api_key", "secret"}},
		{"hmac needs header", "hmac", Options{Secrets: []string{"s"}}, []string{"`header"}},
		{"hmac bad algorithm", "hmac", Options{Secrets: []string{"s"}, Header: "X", Algorithm: "md5"}, []string{"`algorithm", "md5"}},
		{"hmac bad encoding", "hmac", Options{Secrets: []string{"s"}, Header: "X", Encoding: "base32"}, []string{"`encoding", "base32"}},
		{"hmac unknown placeholder", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{ts}.{body}"}, []string{"{ts}"}},
		{"hmac template without body", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{url}"}, []string{"{body}"}},
		{"hmac unclosed brace", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{body"}, []string{"unclosed"}},
		{"hmac {secret} is internal", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{body}{secret}"}, []string{"{secret}"}},
		{"hmac timestamp not signed", "hmac", Options{Secrets: []string{"s"}, Header: "X", TimestampHeader: "X-Ts"}, []string{"not be signed"}},
		{"hmac timestamp without header", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{timestamp}{body}"}, []string{"`timestamp_header"}},
		{"hmac bad timestamp format", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{timestamp}{body}", TimestampHeader: "T", TimestampFormat: "iso"}, []string{"`timestamp_format"}},
		{"hmac {id} needs id_header", "hmac", Options{Secrets: []string{"s"}, Header: "X", Signed: "{id}{body}"}, []string{"`id_header"}},
		{"preset refuses scheme options", "github", Options{Secrets: []string{"s"}, Header: "X-Other"}, []string{"github", "does not take `header`"}},
		{"cloudinary refuses prefix", "cloudinary", Options{Secrets: []string{"s"}, Prefix: "x"}, []string{"does not take `prefix`", "algorithm"}},
		{"cloudinary bad algorithm", "cloudinary", Options{Secrets: []string{"s"}, Algorithm: "md5"}, []string{"`algorithm"}},
		{"negative tolerance", "standard", Options{Secrets: []string{stdSecret}, Tolerance: &neg}, []string{"`tolerance"}},
		{"token needs a place", "token", Options{Secrets: []string{"s"}}, []string{"`header", "`query"}},
		{"token not both", "token", Options{Secrets: []string{"s"}, Header: "X", Query: "q"}, []string{"not both"}},
		{"basic needs user:password", "basic", Options{Secrets: []string{"nopassword"}}, []string{"user:password"}},
		{"basic needs a secret", "basic", Options{}, []string{"`secret"}},
		{"rsa needs key", "rsa", Options{Header: "X"}, []string{"`public_key"}},
		{"rsa bad algorithm", "rsa", Options{Header: "X", PublicKeys: []string{spki(testRSA)}, Algorithm: "sha512"}, []string{"sha1 or sha256"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.provider, c.opts)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, s := range c.opts.Secrets {
				if len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("error %q reveals the secret", err)
				}
			}
		})
	}
}
