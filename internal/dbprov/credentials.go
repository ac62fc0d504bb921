package dbprov

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/atomicfile"
)

// Credentials are what a service needs to log in to its database. They
// print and log with the password redacted; only Secret, DSN, Env and
// WriteEnv reveal it.
type Credentials struct {
	Service  string
	Cluster  string
	Engine   Engine
	Host     string
	Port     string
	Database string
	User     string
	// Password is the secret. Read it with Secret.
	password string
	// dsn embeds the password.
	dsn string
}

// Secret returns the password.
func (c *Credentials) Secret() string { return c.password }

// DSN returns the service's DSN, which contains its password.
func (c *Credentials) DSN() string { return c.dsn }

// String describes the credentials without the password.
func (c *Credentials) String() string {
	return fmt.Sprintf("%s@%s (service %s, %s cluster %s, database %s, password redacted)", c.User, hostPort(c.Host, c.Port), c.Service, c.Engine, c.Cluster, c.Database)
}

// LogValue keeps the password out of slog output.
func (c *Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// GoString keeps the password out of %#v.
func (c *Credentials) GoString() string { return c.String() }

func hostPort(host, port string) string {
	if port == "" {
		return host
	}
	return host + ":" + port
}

// envKeys are the credentials file's keys, in the order written.
var envKeys = []string{"DB_ENGINE", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_DSN"}

// WriteEnv renders the credentials as a credentials file: comment lines,
// then KEY=value lines without quoting, the way systemd's EnvironmentFile=
// and docker's --env-file read them.
func (c *Credentials) WriteEnv(issued time.Time, how string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Database credentials of service %s on cluster %s, %s by skjold at %s.\n", c.Service, c.Cluster, how, issued.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# Replace them with: skjold db rotate %s\n", c.Service)
	for _, l := range c.Env() {
		fmt.Fprintln(&b, l)
	}
	return b.Bytes()
}

// Env returns the KEY=value lines of the credentials file, password
// included.
func (c *Credentials) Env() []string {
	vals := []string{string(c.Engine), c.Host, c.Port, c.Database, c.User, c.password, c.dsn}
	out := make([]string, len(envKeys))
	for i, k := range envKeys {
		out[i] = k + "=" + vals[i]
	}
	return out
}

// ReadCredentials reads a credentials file written by apply or rotate. A
// service that reconnects with what this returns picks up a rotated
// password.
func ReadCredentials(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("credentials: %s:%d: expected KEY=value", path, n)
		}
		vals[k] = v
	}
	if vals["DB_USER"] == "" || vals["DB_PASSWORD"] == "" {
		return nil, fmt.Errorf("credentials: %s has no DB_USER or DB_PASSWORD", path)
	}
	c := &Credentials{
		Engine: Engine(vals["DB_ENGINE"]), Host: vals["DB_HOST"], Port: vals["DB_PORT"],
		Database: vals["DB_NAME"], User: vals["DB_USER"], password: vals["DB_PASSWORD"], dsn: vals["DB_DSN"],
	}
	c.Service = strings.TrimSuffix(filepath.Base(path), ".env")
	return c, nil
}

// passwordAlphabet has no character that needs quoting in SQL, a DSN, a
// URL, a shell or an env file.
const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// passwordLength of 32 from 62 symbols is about 190 bits.
const passwordLength = 32

// newPassword returns a random password from crypto/rand.
func newPassword() string {
	out := make([]byte, 0, passwordLength)
	buf := make([]byte, 64)
	for len(out) < passwordLength {
		_, _ = rand.Read(buf) // never fails (crypto/rand documents it)
		for _, b := range buf {
			// 248 = 4*62: reject the top bytes so every symbol is equally likely.
			if b < 248 && len(out) < passwordLength {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out)
}

// credentialStore keeps one credentials file per service in a directory.
type credentialStore struct {
	dir string
	now func() time.Time
}

func (s credentialStore) path(service string) string {
	return filepath.Join(s.dir, service+".env")
}

func (s credentialStore) exists(service string) bool {
	_, err := os.Lstat(s.path(service))
	return err == nil
}

func (s credentialStore) read(service string) (*Credentials, error) {
	if s.dir == "" {
		return nil, fmt.Errorf("no credentials directory is configured")
	}
	c, err := ReadCredentials(s.path(service))
	if err != nil {
		return nil, err
	}
	c.Service = service
	return c, nil
}

// ErrLooseDirectory means the credentials directory may be written by
// users other than its owner, who could then replace a service's
// credentials; apply and rotate refuse it, as ssh refuses a key file
// others may read.
var ErrLooseDirectory = errors.New("credentials directory is writable by others")

// checkDir refuses a credentials directory that group or others may write
// to. A directory that does not exist yet is fine: stage creates it 0700.
func (s credentialStore) checkDir() error {
	fi, err := os.Stat(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("credentials directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("credentials directory %s is not a directory", s.dir)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s has mode %04o: %w; anyone who can write there can replace a service's credentials (chmod 700 %s)", s.dir, m, ErrLooseDirectory, s.dir)
	}
	return nil
}

// stage writes c to a temporary file (mode 0600) beside its final path,
// creating the directory with mode 0700 if needed. The caller puts it in
// place (PlaceNew for a new user, Replace for a rotation) once the server
// has the password, so a failure never strands a password nobody knows.
func (s credentialStore) stage(c *Credentials, how string) (*atomicfile.Pending, error) {
	if s.dir == "" {
		return nil, fmt.Errorf("no credentials directory is configured (databases.credentials_dir)")
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("credentials directory: %w", err)
	}
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	f, err := atomicfile.Stage(s.path(c.Service), c.WriteEnv(s.now(), how), 0o600)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return f, nil
}
