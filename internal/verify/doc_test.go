package verify

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's preset table from PresetTable()")

const (
	readmePath    = "../../README.md"
	presetsBegin  = "<!-- presets:begin -->"
	presetsEnd    = "<!-- presets:end -->"
	presetsUpdate = "go test ./internal/verify -run TestREADMEPresets -update"
)

// TestREADMEPresets keeps the README's preset table generated: the text
// between the markers must be PresetTable().
func TestREADMEPresets(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	before, rest, ok1 := strings.Cut(readme, presetsBegin)
	current, after, ok2 := strings.Cut(rest, presetsEnd)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the markers %s and %s", presetsBegin, presetsEnd)
	}
	want := "\n" + PresetTable()
	if current == want {
		return
	}
	if !*update {
		t.Fatalf("README.md's preset table is out of date: run `%s`", presetsUpdate)
	}
	if err := os.WriteFile(readmePath, []byte(before+presetsBegin+want+presetsEnd+after), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPresetDocs(t *testing.T) {
	docs := PresetDocs()
	if len(docs) != len(presets) {
		t.Fatalf("%d docs for %d presets", len(docs), len(presets))
	}
	for _, d := range docs {
		if d.Provider == "" || d.Scheme == "" || d.Headers == "" || d.Tolerance == "" || d.DedupID == "" || d.Source == "" || d.Proof == "" {
			t.Errorf("incomplete doc: %+v", d)
		}
	}
	table := PresetTable()
	if got := strings.Count(table, "\n"); got != len(presets)+2 {
		t.Errorf("table has %d lines for %d presets", got, len(presets))
	}
}
