// Package dbprov gives each service its own database on a shared MySQL,
// MariaDB or PostgreSQL cluster — a schema or database, a user with a
// generated password that may use only it, and a connection limit — and
// proves the isolation by logging in as every service and trying to read,
// write and create in every other service's schema.
package dbprov

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// Sentinel errors.
var (
	// ErrConflict means an object the config asks for exists but was not
	// created by Skjold, which leaves it alone; see Plan.Conflicts.
	ErrConflict = errors.New("objects in the way")
	// ErrUnknownService means a service is not in the cluster's config.
	ErrUnknownService = errors.New("no such service")
	// ErrNotProvisioned means a service's user does not exist yet (or was
	// not created by Skjold); run apply first.
	ErrNotProvisioned = errors.New("not provisioned")
	// ErrCredentialsExist means apply would create a user whose
	// credentials file already exists; it never overwrites one.
	ErrCredentialsExist = errors.New("credentials file already exists")
)

// Engine is a database server family.
type Engine string

// Engines.
const (
	MySQL    Engine = "mysql" // MySQL or MariaDB
	Postgres Engine = "postgres"
)

// Service is one service's database as the config declares it.
type Service struct {
	// Name of the service; names its credentials file.
	Name string
	// Schema is the MySQL schema or the PostgreSQL database (which holds a
	// schema of the same name).
	Schema string
	// User is the database user the service logs in as.
	User string
	// ConnectionLimit is the most connections the user may hold at once.
	ConnectionLimit int
	// DataClass is what kind of data the service keeps; reported only.
	DataClass string
}

// Cluster is one shared database server and the services on it.
type Cluster struct {
	// Name of the cluster in the config.
	Name   string
	Engine Engine
	// AdminDSN logs in with the rights to create schemas, users and
	// grants. It never appears in output.
	AdminDSN string
	// UserHost is the host part of MySQL accounts ("%").
	UserHost string
	// Services on the cluster, sorted by name.
	Services []Service
}

// service returns the named service.
func (c *Cluster) service(name string) (Service, bool) {
	i := slices.IndexFunc(c.Services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, false
	}
	return c.Services[i], true
}

// ClustersFromConfig builds the clusters of d, reading each admin DSN from
// its environment variable or file. Clusters come sorted by name and each
// one's services sorted by name.
func ClustersFromConfig(d *config.Databases) ([]*Cluster, error) {
	var out []*Cluster
	for _, name := range sortedKeys(d.Clusters) {
		cc := d.Clusters[name]
		dsn, err := cc.ResolvedAdminDSN()
		if err != nil {
			return nil, fmt.Errorf("databases.clusters.%s.%w", name, err)
		}
		c := &Cluster{Name: name, Engine: MySQL, AdminDSN: dsn, UserHost: cc.UserHost}
		if cc.Engine == config.EnginePostgres {
			c.Engine = Postgres
		}
		for _, sname := range sortedKeys(d.Services) {
			s := d.Services[sname]
			if s.Cluster != name {
				continue
			}
			c.Services = append(c.Services, Service{
				Name: sname, Schema: s.Schema, User: s.User,
				ConnectionLimit: s.ConnectionLimit, DataClass: s.DataClass,
			})
		}
		out = append(out, c)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Options configure a Provisioner. The zero value of each field is usable
// except CredentialsDir, which apply and rotate need unless secrets are
// shown instead.
type Options struct {
	// Logger receives one line per statement run, with secrets redacted.
	// Default: discard.
	Logger *slog.Logger
	// CredentialsDir is where credentials files are written and read.
	CredentialsDir string
	// Now is the clock for the timestamps in credentials files. Default
	// time.Now.
	Now func() time.Time
}

// Provisioner plans, applies, rotates and audits one cluster. It holds no
// connection between calls; each call opens what it needs and closes it.
type Provisioner struct {
	cluster *Cluster
	log     *slog.Logger
	creds   credentialStore
}

// New returns a Provisioner for c.
func New(c *Cluster, opts Options) *Provisioner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Provisioner{
		cluster: c,
		log:     log.With("cluster", c.Name),
		creds:   credentialStore{dir: opts.CredentialsDir, now: now},
	}
}

// engine is what differs between MySQL and PostgreSQL. A value holds
// the admin connection(s) for one operation.
type engine interface {
	// server names the server and its version: "MariaDB 10.11.6".
	server() string
	// plan reads the cluster's state and works out what apply must do.
	plan(ctx context.Context) (*Plan, error)
	// exec runs st on the admin connection. password replaces the
	// redaction marker in st, in the form the server stores it.
	exec(ctx context.Context, st Statement, password string) error
	// userState reports whether s's user exists and whether Skjold
	// created it for s.
	userState(ctx context.Context, s Service) (exists, managed bool, err error)
	// setPassword is the statement that gives an existing user a new
	// password.
	setPassword(s Service) Statement
	// serviceDSN is how s logs in with password: what its credentials
	// file holds.
	serviceDSN(s Service, password string) (Endpoint, error)
	// planDrop works out how to remove what skjold created for a service
	// that is no longer configured (ErrNothingToDrop when there is
	// nothing), keeping its data when keepData.
	planDrop(ctx context.Context, service string, keepData bool) (*Plan, error)
	// audit probes every pair of services and reads the catalogs.
	audit(ctx context.Context, passwords map[string]string) (*AuditReport, error)
	close()
}

// Endpoint is where and how a service connects.
type Endpoint struct {
	Host, Port string
	// DSN in the driver's format: go-sql-driver/mysql's, or a PostgreSQL
	// URL or keyword/value string like the admin DSN.
	DSN string
}

func (p *Provisioner) open(ctx context.Context) (engine, error) {
	switch p.cluster.Engine {
	case MySQL:
		return openMySQL(ctx, p.cluster, p.log)
	case Postgres:
		return openPostgres(ctx, p.cluster, p.log)
	}
	return nil, fmt.Errorf("cluster %s: unknown engine %q", p.cluster.Name, p.cluster.Engine)
}
