package verify

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/presets.md's preset table from PresetTable()")

const (
	presetsPath   = "../../docs/presets.md"
	presetsBegin  = "<!-- presets:begin -->"
	presetsEnd    = "<!-- presets:end -->"
	presetsUpdate = "go test ./internal/verify -run TestPresetsDoc -update"
)

// TestPresetsDoc keeps the preset table of docs/presets.md generated: the
// text between the markers must be PresetTable().
func TestPresetsDoc(t *testing.T) {
	raw, err := os.ReadFile(presetsPath)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(raw), presetsBegin)
	current, after, ok2 := strings.Cut(rest, presetsEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the markers %s and %s", presetsPath, presetsBegin, presetsEnd)
	}
	want := "\n" + PresetTable()
	if current == want {
		return
	}
	if !*update {
		t.Fatalf("%s's preset table is out of date: run `%s`", presetsPath, presetsUpdate)
	}
	if err := os.WriteFile(presetsPath, []byte(before+presetsBegin+want+presetsEnd+after), 0o644); err != nil {
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
