package dbprov

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// secretMarker stands in a Statement's SQL where a password (or the hash
// the server stores) goes. Output shows the marker, so printed SQL is
// redacted by construction; only exec substitutes the real value.
const secretMarker = "'<redacted>'"

// Statement is one SQL statement of a plan.
type Statement struct {
	// SQL is the statement, with secretMarker where a password goes.
	SQL string
	// Database is the PostgreSQL database to run it in; "" means the
	// one the admin DSN names.
	Database string
}

// String is the statement as plan prints it: redacted, with the database
// it runs in when that is not the admin DSN's.
func (s Statement) String() string {
	if s.Database != "" {
		return fmt.Sprintf("%s;  -- in database %s", s.SQL, s.Database)
	}
	return s.SQL + ";"
}

// setsPassword reports whether running s sets a user's password.
func (s Statement) setsPassword() bool { return strings.Contains(s.SQL, secretMarker) }

// Change is something apply does for one service (or for the cluster,
// when Service is empty) to reach what the config says.
type Change struct {
	Service string
	// What says it in words: "create schema payments".
	What       string
	Statements []Statement
	// CreatesUser is set when the change creates the service's user, so
	// apply issues credentials.
	CreatesUser bool
}

// Drift is a privilege someone added by hand to a service's user, or to
// PUBLIC on a service's database. Plan reports it; apply revokes it only
// when asked (ApplyOptions.RevokeDrift).
type Drift struct {
	// Service whose user (or database) has the extra privilege.
	Service string
	// What says it in words, naming the object the privilege is on.
	What string
	// Reaches lists the other services whose data the privilege opens.
	Reaches []string
	// Revoke takes the privilege away.
	Revoke []Statement
	// public marks a grant to PUBLIC, which the audit lists with the
	// other PUBLIC grants rather than as drift.
	public bool
}

// Conflict is an object the config needs that exists but was not created
// by Skjold, or a credentials file apply would have to overwrite. Apply
// refuses to run while there is one.
type Conflict struct {
	Service string
	What    string
	// Fix says how to resolve it.
	Fix string
}

// Plan is what apply would do to one cluster, and what it found there.
type Plan struct {
	Cluster string
	// Server names the database server and its version.
	Server    string
	Changes   []Change
	Drift     []Drift
	Conflicts []Conflict
	// Notes are things worth knowing that need no change: objects
	// Skjold created for services no longer in the config, services
	// without a credentials file.
	Notes []string
	// UpToDate lists the services that need nothing.
	UpToDate []string
}

// Empty reports whether apply would change nothing (drift aside).
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Plan reads the cluster and works out what apply would change. It changes
// nothing.
func (p *Provisioner) Plan(ctx context.Context) (*Plan, error) {
	e, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	return p.plan(ctx, e)
}

func (p *Provisioner) plan(ctx context.Context, e engine) (*Plan, error) {
	plan, err := e.plan(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", p.cluster.Name, err)
	}
	plan.Cluster, plan.Server = p.cluster.Name, e.server()
	if p.creds.dir != "" {
		if err := p.creds.checkDir(); err != nil {
			plan.Conflicts = append(plan.Conflicts, Conflict{What: err.Error(), Fix: "chmod 700 " + p.creds.dir})
		}
	}
	for _, c := range plan.Changes {
		if c.CreatesUser && p.creds.dir != "" && p.creds.exists(c.Service) {
			plan.Conflicts = append(plan.Conflicts, Conflict{
				Service: c.Service,
				What:    fmt.Sprintf("credentials file %s exists, but its user does not", p.creds.path(c.Service)),
				Fix:     "move the file away if it is stale; apply writes a new one and never overwrites",
			})
		}
	}
	for _, s := range p.cluster.Services {
		if p.creds.dir == "" || p.creds.exists(s.Name) || createsUser(plan, s.Name) || conflicted(plan, s.Name) {
			continue
		}
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s: no credentials file at %s; `skjold db rotate %s` issues a new password", s.Name, p.creds.path(s.Name), s.Name))
	}
	return plan, nil
}

func createsUser(plan *Plan, service string) bool {
	for _, c := range plan.Changes {
		if c.Service == service && c.CreatesUser {
			return true
		}
	}
	return false
}

func conflicted(plan *Plan, service string) bool {
	for _, c := range plan.Conflicts {
		if c.Service == service {
			return true
		}
	}
	return false
}

// WriteText prints the plan for a person: every statement, secrets
// redacted.
func (p *Plan) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "cluster %s (%s)\n", p.Cluster, p.Server)
	for _, c := range p.Changes {
		who := c.Service
		if who == "" {
			who = "(cluster)"
		}
		fmt.Fprintf(b, "  %s: %s\n", who, c.What)
		for _, st := range c.Statements {
			fmt.Fprintf(b, "      %s\n", st)
		}
	}
	for _, s := range p.UpToDate {
		fmt.Fprintf(b, "  %s: up to date\n", s)
	}
	if len(p.Conflicts) > 0 {
		fmt.Fprintf(b, "  in the way (apply refuses until resolved):\n")
		for _, c := range p.Conflicts {
			who := c.Service
			if who == "" {
				who = "(cluster)"
			}
			fmt.Fprintf(b, "    %s: %s\n      fix: %s\n", who, c.What, c.Fix)
		}
	}
	if len(p.Drift) > 0 {
		fmt.Fprintf(b, "  drift (privileges added by hand; `skjold db apply --revoke-drift` revokes them):\n")
		for _, d := range p.Drift {
			fmt.Fprintf(b, "    %s: %s\n", d.Service, d.What)
			if len(d.Reaches) > 0 {
				fmt.Fprintf(b, "      opens the data of: %s\n", strings.Join(d.Reaches, ", "))
			}
			for _, st := range d.Revoke {
				fmt.Fprintf(b, "      %s\n", st)
			}
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(b, "  note: %s\n", n)
	}
	fmt.Fprintf(b, "  %s, %s, %s\n", count(len(p.Changes), "change"), count(len(p.Drift), "drift finding"), count(len(p.Conflicts), "conflict"))
	_, err := io.WriteString(w, b.String())
	return err
}

// count formats n with the noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
