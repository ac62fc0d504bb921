package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/doctor"
)

// doctorRoot copies the doctor's fixture host (a well-tuned gateway) to a
// temporary directory and applies changes: path → content.
func doctorRoot(t *testing.T, changes map[string]string) string {
	t.Helper()
	dst := t.TempDir()
	// CopyFS keeps symbolic links as links, so the /sys tree resolves as
	// sysfs does.
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", "doctor", "testdata", "node"))); err != nil {
		t.Fatal(err)
	}
	for p, content := range changes {
		full := filepath.Join(dst, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// runDoctor runs skjold with stdin and returns the exit status and output.
func runDoctor(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

type doctorJSON struct {
	Status  doctor.Status   `json:"status"`
	Results []doctor.Result `json:"results"`
	Snippet string          `json:"snippet"`
}

func decodeDoctor(t *testing.T, out string) doctorJSON {
	t.Helper()
	var d doctorJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return d
}

func TestDoctorExitStatus(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		strict  bool
		want    int
		status  doctor.Status
	}{
		{"all pass", nil, true, 0, doctor.OK},
		{"a warning passes without --strict", map[string]string{"/proc/sys/net/ipv4/tcp_tw_reuse": "2\n"}, false, 0, doctor.Warn},
		{"a warning fails with --strict", map[string]string{"/proc/sys/net/ipv4/tcp_tw_reuse": "2\n"}, true, 1, doctor.Warn},
		{"a failure", map[string]string{"/etc/sysctl.conf": "net.ipv4.tcp_tw_recycle = 1\n"}, false, 2, doctor.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := doctorRoot(t, tt.changes)
			args := []string{"doctor", "--root", root, "--sample", "1ms", "--user", "skjold", "--json"}
			if tt.strict {
				args = append(args, "--strict")
			}
			code, out, errOut := runDoctor(t, "", args...)
			if code != tt.want {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.want, out, errOut)
			}
			d := decodeDoctor(t, out)
			if d.Status != tt.status || len(d.Results) != 14 {
				t.Errorf("status %s with %d results, want %s with 14", d.Status, len(d.Results), tt.status)
			}
		})
	}
}

func TestDoctorPrintsATable(t *testing.T) {
	root := doctorRoot(t, map[string]string{"/proc/sys/net/core/somaxconn": "128\n"})
	code, out, _ := runDoctor(t, "", "doctor", "--root", root, "--sample", "1ms", "--user", "skjold")
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "CHECK") || !strings.Contains(lines[0], "STATUS  FOUND") || !strings.HasSuffix(lines[0], "WHY") {
		t.Errorf("header: %q", lines[0])
	}
	if !strings.Contains(out, "\nnet.core.somaxconn            warn    128 ") {
		t.Errorf("somaxconn row missing:\n%s", out)
	}
	// /proc/stat did not move in 1ms of a fixture: the CPU checks say so.
	if !strings.Contains(out, "14 checks: 10 ok, 1 warn, 3 skip") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestDoctorFixAsksFirst(t *testing.T) {
	stock := map[string]string{"/proc/sys/net/ipv4/tcp_tw_reuse": "2\n", "/proc/sys/net/core/rmem_max": "212992\n"}
	dropIn := func(root string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(root, doctor.DropInPath))
		return string(b), err == nil
	}

	t.Run("declined", func(t *testing.T) {
		root := doctorRoot(t, stock)
		code, out, errOut := runDoctor(t, "n\n", "doctor", "--root", root, "--sample", "1ms", "--fix")
		if code != 1 || !strings.Contains(errOut, "nothing changed") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if !strings.Contains(out, "--- /dev/null\n+++ /etc/sysctl.d/60-skjold.conf\n") || !strings.Contains(out, "+net.ipv4.tcp_tw_reuse = 1\n") ||
			!strings.Contains(out, "  net.core.rmem_max: 212992 -> 16777216\n") || !strings.Contains(out, "apply it now? [y/N]") {
			t.Errorf("stdout:\n%s", out)
		}
		if _, ok := dropIn(root); ok {
			t.Error("a declined --fix wrote the drop-in")
		}
		if b, _ := os.ReadFile(filepath.Join(root, "proc/sys/net/ipv4/tcp_tw_reuse")); string(b) != "2\n" {
			t.Errorf("a declined --fix changed the kernel: %q", b)
		}
	})

	t.Run("no answer", func(t *testing.T) {
		root := doctorRoot(t, stock)
		if code, _, _ := runDoctor(t, "", "doctor", "--root", root, "--sample", "1ms", "--fix"); code != 1 {
			t.Errorf("exit %d", code)
		}
		if _, ok := dropIn(root); ok {
			t.Error("--fix without an answer wrote the drop-in")
		}
	})

	for _, how := range []struct {
		name, stdin string
		args        []string
	}{{"confirmed", "y\n", nil}, {"--yes", "", []string{"--yes"}}} {
		t.Run(how.name, func(t *testing.T) {
			root := doctorRoot(t, stock)
			args := append([]string{"doctor", "--root", root, "--sample", "1ms", "--user", "skjold", "--fix"}, how.args...)
			code, out, errOut := runDoctor(t, how.stdin, args...)
			if code != 0 || errOut != "" {
				t.Errorf("exit %d, stderr %q\n%s", code, errOut, out)
			}
			if how.stdin == "" && strings.Contains(out, "[y/N]") {
				t.Error("--yes still asked")
			}
			content, ok := dropIn(root)
			if !ok || !strings.Contains(content, "net.ipv4.tcp_tw_reuse = 1\nnet.core.rmem_max = 16777216\n") {
				t.Errorf("drop-in:\n%s", content)
			}
			if !strings.Contains(out, "Wrote /etc/sysctl.d/60-skjold.conf.\nApplied 2 of 2 setting(s) to the running kernel.\n") {
				t.Errorf("stdout:\n%s", out)
			}
			// The report after the fix shows the kernel as it is now.
			if !strings.Contains(out, "\nnet.ipv4.tcp_tw_reuse         ok      1 ") {
				t.Errorf("report after --fix:\n%s", out)
			}
			code, out, _ = runDoctor(t, "", "doctor", "--root", root, "--sample", "1ms", "--user", "skjold", "--fix")
			if code != 0 || !strings.Contains(out, "nothing to change") {
				t.Errorf("second --fix: exit %d\n%s", code, out)
			}
		})
	}

	t.Run("--yes alone", func(t *testing.T) {
		if code, _, errOut := runDoctor(t, "", "doctor", "--yes"); code != 2 || !strings.Contains(errOut, "--yes only applies to --fix") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestDoctorOnThisMachine(t *testing.T) {
	code, out, errOut := runDoctor(t, "", "doctor", "--sample", "200ms", "--json")
	d := decodeDoctor(t, out)
	if len(d.Results) != 14 || errOut != "" {
		t.Fatalf("%d results, stderr %q", len(d.Results), errOut)
	}
	if want := doctor.ExitCode(d.Results, false); code != want {
		t.Errorf("exit %d for a %s report, want %d", code, d.Status, want)
	}
}

func doctorService(t *testing.T, env string) {
	t.Helper()
	if os.Getenv(env) == "" {
		if os.Getenv("SKJOLD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set, but SKJOLD_REQUIRE_SERVICES=1", env)
		}
		t.Skipf("%s is not set; scripts/test starts a server and sets it", env)
	}
}

func TestDoctorMySQL(t *testing.T) {
	doctorService(t, "SKJOLD_TEST_MYSQL_DSN")
	t.Run("DSN from an environment variable", func(t *testing.T) {
		code, out, errOut := runDoctor(t, "", "doctor", "mysql", "--dsn-env", "SKJOLD_TEST_MYSQL_DSN", "--connections", "100000", "--ram", "64G")
		if code != 2 || errOut != "" {
			t.Errorf("exit %d (want 2: 100000 connections cannot fit), stderr %q", code, errOut)
		}
		for _, want := range []string{"mysql.max_connections                 fail", "[mysqld]\n", "max_connections = 110000                 # services' limits 100000 + headroom"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("DSN from a file", func(t *testing.T) {
		path := writeFile(t, "dsn", os.Getenv("SKJOLD_TEST_MYSQL_DSN")+"\n")
		code, out, errOut := runDoctor(t, "", "doctor", "mysql", "--dsn-file", path, "--json")
		d := decodeDoctor(t, out)
		if errOut != "" || len(d.Results) < 7 || code != doctor.ExitCode(d.Results, false) {
			t.Errorf("exit %d, stderr %q, %d results", code, errOut, len(d.Results))
		}
		for _, r := range d.Results {
			if r.Check == "mysql.innodb_buffer_pool_size" && !strings.Contains(r.Found, "(MemTotal of this host)") {
				t.Errorf("a server on loopback is judged against this host's RAM: %q", r.Found)
			}
		}
	})
	t.Run("connections and DSN from the config", func(t *testing.T) {
		t.Setenv("SKJOLD_DOCTOR_TEST_DSN", os.Getenv("SKJOLD_TEST_MYSQL_DSN"))
		t.Setenv("SKJOLD_MYSQL_DSN", "")
		cfg := writeFile(t, "skjold.yaml", `listeners:
  public: {address: 127.0.0.1:8080}
databases:
  clusters:
    main: {engine: mariadb, admin_dsn_env: SKJOLD_DOCTOR_TEST_DSN}
    analytics: {engine: postgres, admin_dsn_env: SKJOLD_DOCTOR_TEST_DSN}
  services:
    payments: {cluster: main, connection_limit: 40}
    fx: {cluster: main}
    reports: {cluster: analytics, connection_limit: 500}
`)
		_, out, errOut := runDoctor(t, "", "doctor", "mysql", "-c", cfg, "--json")
		d := decodeDoctor(t, out)
		found := false
		for _, r := range d.Results {
			if r.Check == "mysql.max_connections" {
				found = true
				if !strings.Contains(r.Expected, "the services' 50 (2 services on cluster main in "+cfg+")") {
					t.Errorf("expected %q", r.Expected)
				}
			}
		}
		if !found {
			t.Errorf("no max_connections result; stderr %q\n%s", errOut, out)
		}
	})
	t.Run("no DSN", func(t *testing.T) {
		t.Setenv("SKJOLD_MYSQL_DSN", "")
		code, _, errOut := runDoctor(t, "", "doctor", "mysql")
		if code != 2 || !strings.Contains(errOut, "no DSN: give one with --dsn-file FILE, $SKJOLD_MYSQL_DSN") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("a bad password is named without the DSN", func(t *testing.T) {
		dsn := os.Getenv("SKJOLD_TEST_MYSQL_DSN")
		user, rest, _ := strings.Cut(dsn, ":")
		_, addr, _ := strings.Cut(rest, "@")
		t.Setenv("SKJOLD_MYSQL_DSN", user+":wrong-secret@"+addr)
		code, _, errOut := runDoctor(t, "", "doctor", "mysql")
		if code != 2 || !strings.Contains(errOut, "reading settings from MySQL at "+user+"@") || strings.Contains(errOut, "wrong-secret") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestDoctorPostgres(t *testing.T) {
	doctorService(t, "SKJOLD_TEST_PG_DSN")
	code, out, errOut := runDoctor(t, "", "doctor", "postgres", "--dsn-env", "SKJOLD_TEST_PG_DSN", "--connections", "20", "--json")
	d := decodeDoctor(t, out)
	if errOut != "" || len(d.Results) != 6 || code != doctor.ExitCode(d.Results, false) {
		t.Errorf("exit %d, stderr %q, %d results", code, errOut, len(d.Results))
	}
	for _, r := range d.Results {
		if r.Check == "postgres.max_connections" && r.Status != doctor.OK {
			t.Errorf("20 connections on the test server: %s %q", r.Status, r.Found)
		}
	}
}

func TestDoctorRejectsANonPositiveSample(t *testing.T) {
	for _, v := range []string{"0s", "-1s"} {
		if code, _, errOut := runDoctor(t, "", "doctor", "--sample", v); code != 2 || !strings.Contains(errOut, "--sample must be positive") {
			t.Errorf("--sample %s: exit %d, stderr %q", v, code, errOut)
		}
	}
}
