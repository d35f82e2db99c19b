package manifests

import (
	"os"
	"strings"
	"testing"
)

// The example in README.md parses, and says what the README says it does.
func TestREADME_Example(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in README.md")
	}
	m, err := Parse("README.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	add, reset := m.Function("add"), m.Function("reset")
	if add.Signature() != "add(a int, b int) int" || !add.Idempotent || add.Cacheable == nil || add.AvailableTo("notes") {
		t.Errorf("add: %+v", add)
	}
	if reset.Signature() != "reset()" || reset.Idempotent || !reset.AvailableTo("notes") {
		t.Errorf("reset: %+v", reset)
	}
}
