package dbprov

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Severity ranks an audit finding.
type Severity string

// Severities.
const (
	// Leak: one service can reach another's data, a service account has
	// privileges beyond its schema, or PUBLIC can reach a service's
	// database.
	Leak Severity = "LEAK"
	// Incomplete: the audit could not prove something, such as a service
	// it could not log in as.
	Incomplete Severity = "INCOMPLETE"
	// Warning: worth a look, not a leak between services.
	Warning Severity = "warning"
)

// Finding is one thing the audit found.
type Finding struct {
	Severity Severity
	// Service the finding is about; empty for the cluster.
	Service string
	Message string
}

// Access is what one service could do in one service's schema, as the
// server answered when the audit tried.
type Access struct {
	// Probed is false when the audit could not try; Err says why.
	Probed bool
	Err    string
	// Login is whether the service could log in to the other's database
	// (PostgreSQL, where a database is the unit of login). On MySQL it is
	// the login to the server.
	Login               bool
	Read, Write, Create bool
}

func (a Access) any() bool { return a.Login && (a.Read || a.Write || a.Create) }

// cell renders a for the matrix: "rwc" with "-" for each denial, and "l"
// in front on PostgreSQL.
func (a Access) cell(withLogin bool) string {
	if !a.Probed {
		return "?"
	}
	var b strings.Builder
	flag := func(ok bool, c byte) {
		if ok {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	if withLogin {
		flag(a.Login, 'l')
	}
	flag(a.Read, 'r')
	flag(a.Write, 'w')
	flag(a.Create, 'c')
	return b.String()
}

// AccountPrivileges is an account with privileges on every schema.
type AccountPrivileges struct {
	Account    string
	Privileges []string
	// Service is set when the account is a service's user; plan reports
	// its privileges as drift.
	Service string
}

// PublicGrant is a privilege granted to PUBLIC, every account there is.
type PublicGrant struct {
	// Object is what it is on: "database payments", "schema public in
	// database payments".
	Object     string
	Privileges []string
	// Service is set when the object is a service's: a leak.
	Service string
}

// AuditReport is the proof (or disproof) of a cluster's isolation.
type AuditReport struct {
	Cluster string
	Server  string
	Engine  Engine
	// Services are the matrix's rows and columns, in order.
	Services []string
	// Declared are the services as the config declares them, in the
	// same order.
	Declared []Service
	// Matrix[i][j] is what Services[i] could do in Services[j]'s schema.
	Matrix           [][]Access
	GlobalPrivileges []AccountPrivileges
	PublicGrants     []PublicGrant
	Findings         []Finding
}

// Leaks returns the findings of severity Leak.
func (r *AuditReport) Leaks() []Finding { return r.with(Leak) }

// Incomplete returns the findings of severity Incomplete: what the audit
// could not prove.
func (r *AuditReport) Incomplete() []Finding { return r.with(Incomplete) }

func (r *AuditReport) with(s Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == s {
			out = append(out, f)
		}
	}
	return out
}

func (r *AuditReport) add(sev Severity, service, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Service: service, Message: fmt.Sprintf(format, args...)})
}

// Audit proves the cluster's isolation. It logs in as every service with
// the password in its credentials file and, for every schema, tries to
// read, write and create; it expects success in the service's own schema
// (so a denial elsewhere means something) and denial everywhere else. It
// also reads the catalogs for privileges added by hand, accounts with
// global privileges and grants to PUBLIC. It changes nothing but a probe
// table per schema, which it drops again.
func (p *Provisioner) Audit(ctx context.Context) (*AuditReport, error) {
	passwords := map[string]string{}
	var cannot []Finding
	for _, s := range p.cluster.Services {
		c, err := p.creds.read(s.Name)
		if err != nil {
			cannot = append(cannot, Finding{Incomplete, s.Name, fmt.Sprintf("cannot log in as %s: %v", s.Name, err)})
			continue
		}
		passwords[s.Name] = c.Secret()
	}
	e, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	plan, err := p.plan(ctx, e)
	if err != nil {
		return nil, err
	}
	r, err := e.audit(ctx, passwords)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: audit: %w", p.cluster.Name, err)
	}
	r.Cluster, r.Server, r.Engine = p.cluster.Name, e.server(), p.cluster.Engine
	r.Declared = p.cluster.Services
	engineFindings := r.Findings
	r.Findings = cannot

	for _, c := range plan.Conflicts {
		r.add(Incomplete, c.Service, "not provisioned by skjold: %s", c.What)
	}
	for _, c := range plan.Changes {
		if c.CreatesUser {
			r.add(Incomplete, c.Service, "%s has no user yet; run skjold db apply", c.Service)
		}
	}
	for i, login := range r.Services {
		if _, ok := passwords[login]; !ok {
			continue
		}
		for j, target := range r.Services {
			a := r.Matrix[i][j]
			switch {
			case !a.Probed:
				r.add(Incomplete, login, "could not probe %s's schema as %s: %s", target, login, a.Err)
			case i == j && !(a.Login && a.Read && a.Write && a.Create):
				r.add(Incomplete, login, "%s cannot %s its own schema, so its denials elsewhere prove nothing", login, strings.Join(verbs(Access{Login: !a.Login, Read: !a.Read, Write: !a.Write, Create: !a.Create}), ", "))
			case i != j && a.any():
				r.add(Leak, login, "%s can %s in the schema of %s", login, strings.Join(verbs(a), ", "), target)
			case i != j && a.Login && p.cluster.Engine == Postgres:
				r.add(Leak, login, "%s can log in to the database of %s", login, target)
			}
		}
	}
	for _, d := range plan.Drift {
		if d.public {
			continue // listed with the PUBLIC grants
		}
		if len(d.Reaches) > 0 {
			r.add(Leak, d.Service, "%s (opens the data of %s)", d.What, strings.Join(d.Reaches, ", "))
		} else {
			r.add(Warning, d.Service, "%s", d.What)
		}
	}
	// A service account's global privileges are drift too, found above:
	// a leak when they reach other services' data, else a warning.
	for _, g := range r.PublicGrants {
		if g.Service != "" {
			r.add(Leak, g.Service, "PUBLIC has %s on %s", strings.Join(g.Privileges, ", "), g.Object)
		}
	}
	r.Findings = append(r.Findings, engineFindings...)
	p.log.Info("audited", "services", len(r.Services), "leaks", len(r.Leaks()), "incomplete", len(r.Incomplete()))
	return r, nil
}

// verbs names what a allows: "read", "write", "create".
func verbs(a Access) []string {
	var out []string
	if a.Read {
		out = append(out, "read")
	}
	if a.Write {
		out = append(out, "write")
	}
	if a.Create {
		out = append(out, "create")
	}
	if len(out) == 0 && a.Login {
		out = append(out, "log in")
	}
	return out
}

// WriteText prints the report: the access matrix, the accounts with global
// privileges, the grants to PUBLIC and every finding, leaks first.
func (r *AuditReport) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "cluster %s (%s): %s\n", r.Cluster, r.Server, count(len(r.Services), "service"))
	for _, s := range r.Declared {
		class := s.DataClass
		if class == "" {
			class = "none"
		}
		fmt.Fprintf(b, "  %s: schema %s, user %s, at most %d connections, data class %s\n", s.Name, s.Schema, s.User, s.ConnectionLimit, class)
	}
	withLogin := r.Engine == Postgres
	legend := "r read, w write, c create"
	if withLogin {
		legend = "l log in to the database, " + legend
	}
	fmt.Fprintf(b, "\naccess matrix (row logs in, column owns the schema; %s; - denied, ? not probed, ! a leak):\n", legend)
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 3, ' ', 0)
	fmt.Fprint(tw, "  \t")
	for _, s := range r.Services {
		fmt.Fprintf(tw, "%s\t", s)
	}
	fmt.Fprintln(tw)
	for i, login := range r.Services {
		fmt.Fprintf(tw, "  %s\t", login)
		for j := range r.Services {
			a := r.Matrix[i][j]
			c := a.cell(withLogin)
			if i != j && a.Probed && a.Login && (withLogin || a.any()) {
				c += "!"
			}
			fmt.Fprintf(tw, "%s\t", c)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		b.WriteString(strings.TrimRight(line, " \n"))
		if strings.HasSuffix(line, "\n") {
			b.WriteByte('\n')
		}
	}

	fmt.Fprintf(b, "\naccounts with global privileges:\n")
	if len(r.GlobalPrivileges) == 0 {
		fmt.Fprintf(b, "  none\n")
	}
	for _, g := range r.GlobalPrivileges {
		who := "not a service account"
		if g.Service != "" {
			who = "SERVICE " + g.Service
		}
		fmt.Fprintf(b, "  %s (%s): %s\n", g.Account, who, strings.Join(g.Privileges, ", "))
	}
	fmt.Fprintf(b, "\ngrants to PUBLIC:\n")
	if len(r.PublicGrants) == 0 {
		fmt.Fprintf(b, "  none\n")
	}
	for _, g := range r.PublicGrants {
		who := "not a service's"
		if g.Service != "" {
			who = "SERVICE " + g.Service
		}
		fmt.Fprintf(b, "  %s (%s): %s\n", g.Object, who, strings.Join(g.Privileges, ", "))
	}

	fmt.Fprintf(b, "\n")
	for _, sev := range []Severity{Leak, Incomplete, Warning} {
		for _, f := range r.with(sev) {
			fmt.Fprintf(b, "%s: %s\n", sev, f.Message)
		}
	}
	leaks, incomplete := len(r.Leaks()), len(r.Incomplete())
	switch {
	case leaks > 0:
		fmt.Fprintf(b, "FAIL: %s\n", count(leaks, "leak"))
	case incomplete > 0:
		fmt.Fprintf(b, "INCOMPLETE: no leak found, but %s unproven\n", count(incomplete, "thing"))
	default:
		fmt.Fprintf(b, "PASS: every service is confined to its own schema\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// probeAccess runs the read, write and create probes of one service in
// another's schema. A denial is the expected answer; any other error makes
// the whole cell an error, since it proves nothing either way.
func probeAccess(exec func(q string) error, denied func(error) bool, read, write, create string) Access {
	a := Access{Probed: true, Login: true}
	var errs []string
	for _, p := range []struct {
		ok *bool
		q  string
	}{{&a.Read, read}, {&a.Write, write}, {&a.Create, create}} {
		switch err := exec(p.q); {
		case err == nil:
			*p.ok = true
		case !denied(err):
			errs = append(errs, fmt.Sprintf("%s: %v", p.q, err))
		}
	}
	if len(errs) > 0 {
		return Access{Err: strings.Join(errs, "; ")}
	}
	return a
}
