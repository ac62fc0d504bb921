package dbprov

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/atomicfile"
)

func TestLikeMatchHasMySQLGrantSemantics(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"my_db", "my_db", true},
		{"my_db", "myxdb", true}, // the trap
		{`my\_db`, "myxdb", false},
		{`my\_db`, "my_db", true},
		{"pay%", "payments", true},
		{`pay\%`, "payments", false},
		{`pay\%`, "pay%", true},
		{"%", "", true},
		{"_", "", false},
		{"a%b", "ab", true},
		{"a%b", "axxb", true},
		{"a%b", "axxc", false},
		{"payments", "payments2", false},
	} {
		if got := likeMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestGrantPatternEscapesWildcards(t *testing.T) {
	e := &mysqlEngine{wildcards: true}
	for _, schema := range []string{"my_db", "a_b_c", "plain", "x%y"} {
		p := e.grantPattern(schema)
		if !likeMatch(p, schema) {
			t.Errorf("grant pattern %q does not match its own schema %q", p, schema)
		}
		for _, other := range []string{strings.ReplaceAll(schema, "_", "x"), strings.ReplaceAll(schema, "%", "zz")} {
			if other != schema && likeMatch(p, other) {
				t.Errorf("grant pattern %q for %q also matches %q", p, schema, other)
			}
		}
	}
	literal := &mysqlEngine{wildcards: false}
	if p := literal.grantPattern("my_db"); p != "my_db" {
		t.Errorf("with partial_revokes the pattern is %q, want it literal", p)
	}
}

func TestNativeHashMatchesMySQLPassword(t *testing.T) {
	// SELECT PASSWORD('secret') on MariaDB.
	if got, want := nativeHash("secret"), "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"; got != want {
		t.Errorf("nativeHash = %s, want %s", got, want)
	}
}

func TestScramVerifierFormat(t *testing.T) {
	v, err := scramVerifierWith("pencil", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(v, "$")
	if len(parts) != 3 || parts[0] != "SCRAM-SHA-256" || !strings.HasPrefix(parts[1], "4096:") {
		t.Fatalf("verifier %q is not SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>", v)
	}
	if strings.Contains(v, "pencil") {
		t.Fatal("verifier contains the password")
	}
	w, _ := scramVerifier("pencil")
	if w == v {
		t.Error("two verifiers share a salt")
	}
}

func TestNewPasswordIsLongAndPlain(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := newPassword()
		if len(p) != passwordLength {
			t.Fatalf("password %q has length %d", p, len(p))
		}
		if strings.Trim(p, passwordAlphabet) != "" {
			t.Fatalf("password %q has characters outside the alphabet", p)
		}
		if seen[p] {
			t.Fatal("the same password twice")
		}
		seen[p] = true
	}
}

func TestPGServiceDSNKeepsOptionsAndReplacesCredentials(t *testing.T) {
	for _, tc := range []struct {
		admin, want string
	}{
		{"postgres://postgres:adminpw@db.internal:5433/postgres?sslmode=verify-full&application_name=x",
			"postgres://svc:newpw@db.internal:5433/svcdb?application_name=x&sslmode=verify-full"},
		{"postgresql://admin@[::1]/postgres?user=admin&password=p",
			"postgresql://svc:newpw@[::1]/svcdb"},
		{"host=db port=5432 user=admin password='a b\\'c' dbname=postgres sslmode=require",
			"host=db port=5432 sslmode=require user=svc password=newpw dbname=svcdb"},
		{"host=/run/postgresql application_name='my app'",
			"host=/run/postgresql application_name='my app' user=svc password=newpw dbname=svcdb"},
	} {
		got, err := pgServiceDSN(tc.admin, "svc", "newpw", "svcdb")
		if err != nil {
			t.Errorf("pgServiceDSN(%q): %v", tc.admin, err)
			continue
		}
		if got != tc.want {
			t.Errorf("pgServiceDSN(%q)\n got %q\nwant %q", tc.admin, got, tc.want)
		}
		if strings.Contains(got, "adminpw") {
			t.Errorf("service DSN %q keeps the admin password", got)
		}
	}
	if _, err := pgServiceDSN("host='unterminated", "a", "b", "c"); err == nil {
		t.Error("an unterminated quote parsed")
	}
}

func TestCredentialsPrintWithoutThePassword(t *testing.T) {
	c := &Credentials{Service: "fx", Cluster: "main", Engine: MySQL, Host: "db", Port: "3306", Database: "fx", User: "fx",
		password: "Sup3rSecretPassw0rd", dsn: "fx:Sup3rSecretPassw0rd@tcp(db:3306)/fx"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), c.LogValue().String()} {
		if strings.Contains(s, "Sup3rSecretPassw0rd") {
			t.Errorf("credentials print their password: %s", s)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "fx.env")
	if err := os.WriteFile(path, c.WriteEnv(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), "issued"), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Secret() != c.Secret() || back.DSN() != c.DSN() || back.User != "fx" || back.Port != "3306" || back.Service != "fx" {
		t.Errorf("read back %+v (secret %q), want the written credentials", back, back.Secret())
	}
}

func TestStagedFilesNeverOverwriteOnCreate(t *testing.T) {
	store := credentialStore{dir: filepath.Join(t.TempDir(), "c"), now: time.Now}
	c := &Credentials{Service: "fx", User: "fx", password: "one"}
	st, err := store.stage(c, "issued")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PlaceNew(); err != nil {
		t.Fatal(err)
	}
	c.password = "two"
	st, err = store.stage(c, "issued")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PlaceNew(); !errors.Is(err, atomicfile.ErrExist) {
		t.Fatalf("second PlaceNew: %v, want ErrExist", err)
	}
	got, _ := store.read("fx")
	if got.Secret() != "one" {
		t.Errorf("file holds %q after a refused overwrite, want the first password", got.Secret())
	}
	st, _ = store.stage(c, "rotated")
	if err := st.Replace(); err != nil {
		t.Fatal(err)
	}
	if got, _ = store.read("fx"); got.Secret() != "two" {
		t.Errorf("after replace the file holds %q, want the new password", got.Secret())
	}
	entries, _ := os.ReadDir(store.dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only fx.env", len(entries))
	}
}

func TestBadAdminDSNErrorsDoNotEchoThePassword(t *testing.T) {
	for _, c := range []*Cluster{
		{Name: "m", Engine: MySQL, AdminDSN: "root:s3cretpw@tcp(db.internal:3306)"},
		{Name: "m", Engine: MySQL, AdminDSN: "root:s3cretpw@tcp(db.internal:3306)/?badparam=%zz"},
		{Name: "p", Engine: Postgres, AdminDSN: "postgres://admin:s3cretpw@db.internal:notaport/postgres"},
		{Name: "p", Engine: Postgres, AdminDSN: "host=db.internal password=s3cretpw port=notaport"},
	} {
		_, err := New(c, Options{}).Plan(t.Context())
		if err == nil {
			t.Errorf("%s DSN %q parsed", c.Engine, c.AdminDSN)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("error for a bad %s DSN shows the password: %v", c.Engine, err)
		}
	}
}

func TestPGSearchPathReadsQuotedAndPlainNames(t *testing.T) {
	tests := []struct {
		setconfig []string
		want      []string
	}{
		{[]string{"search_path=payments"}, []string{"payments"}},
		{[]string{"search_path=\"select\""}, []string{"select"}},
		{[]string{"work_mem=4MB", "search_path=\"select\", public"}, []string{"select", "public"}},
		{[]string{"search_path=\"$user\", \"a,b\", \"q\"\"x\""}, []string{"$user", "a,b", `q"x`}},
		{[]string{"search_path=\"\""}, []string{""}},
		{[]string{"work_mem=4MB"}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		if got := pgSearchPath(tt.setconfig); !slices.Equal(got, tt.want) {
			t.Errorf("pgSearchPath(%q) = %q, want %q", tt.setconfig, got, tt.want)
		}
	}
}
