package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// markdownFiles lists the documentation a reader follows links in: the
// README and docs/*.md, relative to the repository root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	files := []string{"README.md"}
	for _, d := range docs {
		files = append(files, filepath.Join("docs", filepath.Base(d)))
	}
	return files
}

var (
	fencedBlock = regexp.MustCompile("(?ms)^```.*?^```")
	codeSpan    = regexp.MustCompile("`[^`\n]*`")
	inlineLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	refLink     = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s*(\S+)`)
	heading     = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	linkText    = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// Every relative link in the README and docs/ names a file of the
// repository, and an anchor names a heading of that file; every page of
// docs/ is linked from the README.
func TestDocLinks(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range markdownFiles(t) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, doc))
		if err != nil {
			t.Fatal(err)
		}
		if doc != "README.md" && !strings.Contains(string(readme), "]("+filepath.ToSlash(doc)+")") {
			t.Errorf("README.md does not link %s", doc)
		}
		for _, target := range links(raw) {
			if err := checkLink(doc, target); err != "" {
				t.Errorf("%s: link %s: %s", doc, target, err)
			}
		}
	}
}

// links are the link targets of a Markdown text, outside code.
func links(md []byte) []string {
	text := codeSpan.ReplaceAll(fencedBlock.ReplaceAll(md, nil), nil)
	var out []string
	for _, re := range []*regexp.Regexp{inlineLink, refLink} {
		for _, m := range re.FindAllSubmatch(text, -1) {
			out = append(out, string(m[1]))
		}
	}
	return out
}

// checkLink says what is wrong with a link from doc, or "" when it resolves.
func checkLink(doc, target string) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	path, anchor, _ := strings.Cut(target, "#")
	file := filepath.Join(repoRoot, doc)
	if path != "" {
		file = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
		if rel, err := filepath.Rel(repoRoot, file); err != nil || strings.HasPrefix(rel, "..") {
			return "outside the repository"
		}
		if _, err := os.Stat(file); err != nil {
			return "no such file"
		}
	}
	if anchor == "" {
		return ""
	}
	raw, err := os.ReadFile(file)
	if err != nil || !strings.HasSuffix(file, ".md") {
		return "an anchor in a file that is not Markdown"
	}
	for _, a := range anchors(raw) {
		if a == anchor {
			return ""
		}
	}
	return "no heading with that anchor"
}

// anchors are the ids GitHub gives a Markdown file's headings: the text
// lowercased, without punctuation, spaces made hyphens, repeats numbered.
func anchors(md []byte) []string {
	seen := map[string]int{}
	var out []string
	for _, m := range heading.FindAllSubmatch(fencedBlock.ReplaceAll(md, nil), -1) {
		text := linkText.ReplaceAllString(string(m[1]), "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			id += "-" + strconv.Itoa(n)
		}
		seen[b.String()]++
		out = append(out, id)
	}
	return out
}

// The checker itself: it finds broken files and anchors, and names
// headings as GitHub does.
func TestDocLinkChecker(t *testing.T) {
	got := anchors([]byte("# Storage\n## The `webhook_ingress` store, [Redis](x.md)\n```sh\n# not a heading\n```\n## Storage\n"))
	if want := []string{"storage", "the-webhook_ingress-store-redis", "storage-1"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("anchors: got %q, want %q", got, want)
	}
	md := []byte("[a](docs/storage.md) [b](https://example.com) `[c](nowhere.md)`\n```\n[d](nowhere.md)\n```\n[e]: docs/presets.md\n")
	if got := strings.Join(links(md), " "); got != "docs/storage.md https://example.com docs/presets.md" {
		t.Errorf("links: %s", got)
	}
	for target, want := range map[string]string{
		"docs/storage.md":               "",
		"docs/storage.md#redis":         "",
		"docs/storage.md#no-such-thing": "no heading with that anchor",
		"docs/nowhere.md":               "no such file",
		"../../etc/passwd":              "outside the repository",
		"#quick-start":                  "",
	} {
		if got := checkLink("README.md", target); got != want {
			t.Errorf("checkLink(%s) = %q, want %q", target, got, want)
		}
	}
}
