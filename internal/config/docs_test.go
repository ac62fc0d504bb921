package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDocsListEveryKey keeps docs/config.md true to the schema: every YAML
// key of every section must appear in it as `key`, and its example must be
// examples/gateway.yaml verbatim.
func TestDocsListEveryKey(t *testing.T) {
	docBytes, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := string(docBytes)
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for _, f := range fieldsOf(ty) {
			if !strings.Contains(docs, "`"+f.name+"`") {
				t.Errorf("docs/config.md does not describe %s.%s", path, f.name)
			}
			walk(ty.Field(f.index).Type, path+"."+f.name)
		}
	}
	walk(reflect.TypeFor[Config](), "config")

	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(docs, "```yaml\n"+string(example)+"```") {
		t.Error("docs/config.md's example differs from examples/gateway.yaml")
	}
}
