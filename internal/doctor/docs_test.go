package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsDescribeEveryCheck keeps docs/doctor.md true to the code: every
// check the doctors can report must be named in it as `name`.
func TestDocsDescribeEveryCheck(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "doctor.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := string(b)
	var names []string
	for _, c := range NodeChecks(NodeOptions{Host: Host{Root: t.TempDir()}}) {
		names = append(names, c.Name)
	}
	mysql := CheckMySQL(MySQLServer{Variables: map[string]string{"version": "8.0.36", "log_bin": "ON"}}, DBHost{})
	pg := CheckPostgres(PostgresServer{Settings: map[string]string{}}, DBHost{})
	for _, r := range append(mysql.Results, pg.Results...) {
		names = append(names, r.Check)
	}
	for _, n := range names {
		if !strings.Contains(docs, "`"+n+"`") {
			t.Errorf("docs/doctor.md does not describe %s", n)
		}
	}
	if len(names) < 28 {
		t.Errorf("only %d checks found; the test lost some", len(names))
	}
}
