package residency

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
)

// TestDocsShowTheExampleAndItsCheck keeps docs/residency.md true: it must
// hold examples/residency.yaml verbatim and the output check prints for it.
func TestDocsShowTheExampleAndItsCheck(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, err := os.ReadFile(filepath.Join(root, "docs", "residency.md"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, "examples", "residency.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docs), "```yaml\n"+string(example)+"```") {
		t.Error("docs/residency.md's example differs from examples/residency.yaml")
	}
	c, err := config.Parse("examples/residency.yaml", example, Check)
	if err != nil {
		t.Fatal(err)
	}
	res := Evaluate(c)
	if res.Violations != 0 {
		t.Errorf("the example has %d violations", res.Violations)
	}
	var out bytes.Buffer
	if err := WriteText(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docs), "```\n"+out.String()+"```") {
		t.Errorf("docs/residency.md does not show what check prints for the example:\n%s", out.String())
	}
}
