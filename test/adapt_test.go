package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every Caddyfile users copy from caddyfiles/, the README or docs/ must adapt.
func TestAdaptCaddyfiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "caddyfiles", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in caddyfiles/: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { adapt(t, f) })
	}
	for _, doc := range markdownFiles(t) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, doc))
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?s)```caddyfile\n(.*?)```").FindAllSubmatch(raw, -1)
		if doc == "README.md" && len(blocks) == 0 {
			t.Fatal("README has no caddyfile blocks")
		}
		for i, b := range blocks {
			path := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(path, b[1], 0o600); err != nil {
				t.Fatal(err)
			}
			t.Run(fmt.Sprintf("%s block %d", doc, i+1), func(t *testing.T) { adapt(t, path) })
		}
	}
}

func adapt(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(caddyBin, "adapt", "--config", path, "--adapter", "caddyfile")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("caddy adapt %s: %v\n%s", path, err, out)
	}
	if strings.Contains(string(out), `"level":"warn"`) && strings.Contains(string(out), "not formatted") {
		t.Logf("%s is not caddy fmt formatted", path)
	}
}

// A bad Caddyfile names the line and what is wrong.
func TestCaddyfileErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, config, want string }{
		{"unknown provider", ":80 {\n\twebhook_verify nope {\n\t\tsecret x\n\t}\n}", "Caddyfile:2"},
		{"unknown provider lists known", ":80 {\n\twebhook_verify nope\n}", "stripe"},
		{"missing secret", ":80 {\n\n\twebhook_verify github {\n\t}\n}", "Caddyfile:3"},
		{"missing secret says what", ":80 {\n\twebhook_verify github\n}", "secret"},
		{"bad dedupe", ":80 {\n\twebhook_verify github {\n\t\tsecret x\n\t\tdedupe sideways\n\t}\n}", "Caddyfile:4"},
		{"bad rate", ":80 {\n\twebhook_forward http://x:1 {\n\t\trate fast\n\t}\n}", "Caddyfile:3"},
		{"bad redis", "{\n\twebhook_ingress {\n\t\tredis http://x\n\t}\n}\n:80 {\n\trespond ok\n}", "Caddyfile:3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(path, []byte(c.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(caddyBin, "adapt", "--config", path, "--adapter", "caddyfile").CombinedOutput()
			if err == nil {
				t.Fatalf("adapted a bad Caddyfile:\n%s", out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("error does not mention %q:\n%s", c.want, out)
			}
		})
	}
}
