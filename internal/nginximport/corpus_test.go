package nginximport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the corpus .golden files from the importer's output")

const corpusDir = "testdata/corpus"

// corpusFiles are the corpus's top-level configurations.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	if err != nil || len(files) < 15 {
		t.Fatalf("corpus: %d files (%v); want at least 15", len(files), err)
	}
	return files
}

// copyCorpus copies the corpus into dir with the certificate its TLS
// servers name (tls/cert.pem, tls/key.pem), as nginx -t and the importer
// both need the files to exist, and returns dir.
func copyCorpus(t *testing.T, dir string) string {
	t.Helper()
	if err := os.CopyFS(dir, os.DirFS(corpusDir)); err != nil {
		t.Fatal(err)
	}
	writeCert(t, filepath.Join(dir, "tls"))
	return dir
}

// convertCorpus converts the corpus file name in dir (a copyCorpus) as the
// CLI does: includes and certificates resolved from dir. In the YAML, dir
// is written as <corpus>, so the golden files do not depend on it.
func convertCorpus(t *testing.T, dir, name string, allow bool) (string, []Warning, error) {
	t.Helper()
	path := filepath.Join(dir, name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, ws, err := Convert(name, src, Options{File: path, AllowRerouting: allow})
	out := ""
	if err == nil {
		b, merr := Marshal(cfg)
		if merr != nil {
			t.Fatalf("%s: Marshal: %v", name, merr)
		}
		mustLoad(t, cfg)
		out = strings.ReplaceAll(string(b), dir, "<corpus>")
	}
	return out, ws, err
}

// TestCorpusMatchesGolden: every real-world configuration imports exactly
// as its golden file says: the warnings, then the YAML or the error.
func TestCorpusMatchesGolden(t *testing.T) {
	dir := copyCorpus(t, t.TempDir())
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, ws, err := convertCorpus(t, dir, filepath.Base(path), false)
			var b strings.Builder
			for _, line := range Report(ws) {
				b.WriteString(line + "\n")
			}
			b.WriteString("---\n")
			if err != nil {
				b.WriteString("error: " + strings.ReplaceAll(err.Error(), dir, "<corpus>") + "\n")
			} else {
				b.WriteString(out)
			}
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if b.String() != string(want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", golden, b.String())
			}
		})
	}
}

// TestCorpusNeverReroutesSilently: each file imports, or fails as invalid
// or with nothing to import, or is refused naming every place that
// changes who gets what; with AllowRerouting a refused file imports (or
// has nothing to import) and still reports those places.
func TestCorpusNeverReroutesSilently(t *testing.T) {
	dir := copyCorpus(t, t.TempDir())
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, ws, err := convertCorpus(t, dir, filepath.Base(path), false)
			routing := 0
			for _, w := range ws {
				if w.Severity == Routing {
					routing++
					if err == nil || !strings.Contains(err.Error(), w.File+":"+strconv.Itoa(w.Line)+" "+w.Directive) {
						t.Errorf("the refusal %q does not name %s:%d", err, w.File, w.Line)
					}
				}
			}
			switch {
			case err == nil, errors.Is(err, ErrInvalid), errors.Is(err, ErrNothingToImport):
				if routing > 0 && !errors.Is(err, ErrInvalid) {
					t.Fatalf("%d Routing warnings but err = %v", routing, err)
				}
				return
			case !errors.Is(err, ErrRerouting):
				t.Fatalf("err = %v", err)
			}
			if routing == 0 {
				t.Fatalf("refused without a Routing warning: %v", err)
			}
			_, ws2, err := convertCorpus(t, dir, filepath.Base(path), true)
			if err != nil && !errors.Is(err, ErrNothingToImport) {
				t.Fatalf("with AllowRerouting: %v", err)
			}
			again := 0
			for _, w := range ws2 {
				if w.Severity == Routing {
					again++
				}
			}
			if again != routing {
				t.Errorf("with AllowRerouting %d Routing warnings, without %d", again, routing)
			}
		})
	}
}

// wholeConf matches a configuration with its own main context.
var wholeConf = regexp.MustCompile(`(?m)^\s*(http|events)\s*\{`)

// TestCorpusParsesExactlyWhatNginxAccepts runs nginx -t on every corpus
// file and checks that Convert rejects as invalid exactly the files nginx
// rejects. nginx runs in its own network namespace (nginx -t binds the
// listen ports and resolves names), with a prefix in a temporary
// directory holding a copy of the corpus and a generated certificate, so
// it touches neither the network nor the machine's nginx.
func TestCorpusParsesExactlyWhatNginxAccepts(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("SKJOLD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("nginx is not installed, and SKJOLD_REQUIRE_SERVICES=1 says it must be (scripts/services.sh installs it)")
		}
		t.Skip("nginx is not installed (apt-get install nginx-light); scripts/test installs it")
	}
	isolate := isolation(t, nginx)
	prefix := t.TempDir()
	// The importer reads the same copy, certificate included.
	conf := copyCorpus(t, filepath.Join(prefix, "conf"))
	for _, path := range corpusFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			main := filepath.Join(conf, name)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !wholeConf.Match(src) {
				// A snippet of http-level directives, as in conf.d/.
				main = filepath.Join(conf, "wrap-"+name)
				wrap := "pid nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\naccess_log off;\ninclude " + name + ";\n}\n"
				if err := os.WriteFile(main, []byte(wrap), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := append(isolate, nginx, "-t", "-q", "-e", "stderr", "-p", prefix, "-c", main)
			out, nerr := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
			nginxOK := nerr == nil
			_, _, cerr := convertCorpus(t, conf, name, true)
			importOK := !errors.Is(cerr, ErrInvalid)
			if nginxOK != importOK {
				t.Errorf("nginx -t accepts: %v (%s); the importer parses: %v (%v)", nginxOK, strings.TrimSpace(string(out)), importOK, cerr)
			}
			if wantInvalid := strings.HasPrefix(name, "invalid-"); nginxOK == wantInvalid {
				t.Errorf("nginx -t accepts %s: %v; the corpus names it %s", name, nginxOK, map[bool]string{true: "invalid", false: "valid"}[wantInvalid])
			}
		})
	}
}

// isolation returns the command prefix that runs nginx in a network
// namespace of its own: as root unshare --net, otherwise in a user
// namespace too. It fails the test when neither works, since running
// nginx -t unisolated would bind the machine's ports 80 and 443.
func isolation(t *testing.T, nginx string) []string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare (util-linux) is needed to run nginx -t in its own network namespace: %v", err)
	}
	for _, args := range [][]string{{unshare, "--net"}, {unshare, "--user", "--map-root-user", "--net"}} {
		if exec.Command(args[0], append(args[1:], "true")...).Run() == nil {
			return args
		}
	}
	t.Fatalf("cannot create a network namespace for nginx -t (tried %s --net and --user --map-root-user --net)", unshare)
	return nil
}

// writeCert writes a self-signed certificate and key as cert.pem and
// key.pem in dir, for the corpus's TLS servers.
func writeCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "app.example.com"},
		DNSNames:     []string{"app.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
