package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
	"github.com/skjold-dev/skjold/internal/config"
)

func TestImportNginxFieldGuideWritesYAMLAndNoWarnings(t *testing.T) {
	path := filepath.Join("..", "nginximport", "testdata", "fieldguide.conf")
	code, out, errOut := runCLI(t, "import", "nginx", path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "# Imported from the nginx configuration "+path+" ") {
		t.Errorf("stdout does not start with the source comment:\n%s", out)
	}
	cfg, err := config.Parse("stdout", []byte(out))
	if err != nil {
		t.Fatalf("output does not load: %v\n%s", err, out)
	}
	if len(cfg.Routes) != 1 || cfg.Routes[0].Upstream != "backend_service" || cfg.Routes[0].Match.PathPrefix != "/api/v1/" {
		t.Errorf("routes = %+v", cfg.Routes)
	}
}

func TestImportNginxReportsWarningsOnStderrAndSucceeds(t *testing.T) {
	path := writeFile(t, "nginx.conf", "server {\nlisten 8080;\ngzip on;\nlocation / { proxy_pass http://127.0.0.1:9000; }\n}\n")
	code, out, errOut := runCLI(t, "import", "nginx", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := path + ":3: gzip: changes behaviour: not translated (Skjold does not compress)\n" +
		"1 warning: review the warnings above before serving this config\n"
	if errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
	if _, err := config.Parse("stdout", []byte(out)); err != nil {
		t.Errorf("output does not load: %v", err)
	}
}

func TestImportNginxParseErrorExitsOneWithTheLine(t *testing.T) {
	path := writeFile(t, "nginx.conf", "server {\nlisten 80\n}\n")
	code, out, errOut := runCLI(t, "import", "nginx", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	if want := "skjold: " + path + ":3: unexpected \"}\": \"listen\" is missing its \";\"\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
}

func TestImportNginxNothingToImportExitsOne(t *testing.T) {
	path := writeFile(t, "nginx.conf", "server {\nlisten 80;\nlocation / { root /srv; }\n}\n")
	code, out, errOut := runCLI(t, "import", "nginx", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	if !strings.Contains(errOut, path+":3: location: changes behaviour: /: no proxy_pass") || !strings.Contains(errOut, "no location with proxy_pass") {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestImportNginxOutputFileLoadsWithCheck(t *testing.T) {
	src := writeFile(t, "nginx.conf", "upstream app { server 127.0.0.1:9000; server 127.0.0.1:9001; }\nserver { listen 127.0.0.1:8080; location / { proxy_pass http://app; } }\n")
	dst := filepath.Join(t.TempDir(), "skjold.yaml")
	code, out, errOut := runCLI(t, "import", "nginx", src, "-o", dst)
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "check", "-c", dst); code != 0 {
		t.Fatalf("check: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("the output directory holds %d files, want only the output (no temp files left)", len(entries))
	}
}

func TestImportNginxReadsStdin(t *testing.T) {
	var out, errOut bytes.Buffer
	in := strings.NewReader("server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }")
	code := Run(context.Background(), []string{"import", "nginx", "-"}, in, &out, &errOut)
	if code != 0 || errOut.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "# Imported from the nginx configuration stdin ") {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestImportNginxMissingFileExitsOne(t *testing.T) {
	code, _, errOut := runCLI(t, "import", "nginx", filepath.Join(t.TempDir(), "absent.conf"))
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestImportNginxRefusesReroutingUnlessAllowed(t *testing.T) {
	path := writeFile(t, "nginx.conf", "server {\nlisten 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation /logs/ { deny all; }\n}\n")
	code, out, errOut := runCLI(t, "import", "nginx", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{
		path + `:4: location: changes who gets what: /logs/: nginx refuses every request with 403 (deny all); not imported, so requests for /logs/ will match route "/" → upstream 127_0_0_1_9000`,
		"import refused", path + ":4 location", "--allow-rerouting",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	code, out, errOut = runCLI(t, "import", "nginx", "--allow-rerouting", path)
	if code != 0 || !strings.Contains(errOut, "changes who gets what") {
		t.Fatalf("with --allow-rerouting: exit %d, stderr %q", code, errOut)
	}
	if _, err := config.Parse("stdout", []byte(out)); err != nil {
		t.Errorf("output does not load: %v", err)
	}
}

func TestImportNginxFollowsIncludesNextToTheFile(t *testing.T) {
	path := writeFile(t, "nginx.conf", "server {\nlisten 80;\nlocation / { proxy_pass http://127.0.0.1:9000; include timeouts.conf; }\n}\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "timeouts.conf"), []byte("proxy_read_timeout 7s;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "import", "nginx", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	cfg, err := config.Parse("stdout", []byte(out))
	if err != nil || cfg.Routes[0].Timeouts.Response.D().String() != "7s" {
		t.Errorf("err %v; routes %+v", err, cfg.Routes)
	}
}

// TestImportNginxTLSServerWritesCertificatesThatCheckLoads: a certbot-style
// pair of servers imports to a TLS listener whose certificate paths,
// relative in nginx, are absolute in the YAML; the -o file passes check.
func TestImportNginxTLSServerWritesCertificatesThatCheckLoads(t *testing.T) {
	ca := certstest.NewCA(t, "Test CA")
	leaf := ca.Issue(certstest.Options{}, "app.example.com")
	dir := filepath.Dir(ca.File)
	conf := "server {\nlisten 80;\nserver_name app.example.com;\nreturn 301 https://$host$request_uri;\n}\n" +
		"server {\nlisten 443 ssl;\nserver_name app.example.com;\n" +
		"ssl_certificate " + filepath.Base(leaf.CertFile) + ";\nssl_certificate_key " + filepath.Base(leaf.KeyFile) + ";\n" +
		"location / { proxy_pass http://127.0.0.1:9000; }\n}\n"
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(t.TempDir(), "skjold.yaml")
	code, _, errOut := runCLI(t, "import", "nginx", path, "-o", yaml)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	cfg, err := config.LoadFile(yaml)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners["https_443"]
	if l == nil || l.TLS == nil || len(l.TLS.Certificates) != 1 || l.TLS.Certificates[0].CertFile != leaf.CertFile || l.RedirectHTTPFrom != ":80" {
		t.Fatalf("listeners = %+v", cfg.Listeners)
	}
	if code, out, errOut := runCLI(t, "check", "-c", yaml); code != 0 {
		t.Errorf("check: exit %d, %s%s", code, out, errOut)
	}
}
