package dbprov

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

func (e *pgEngine) audit(ctx context.Context, passwords map[string]string) (*AuditReport, error) {
	st, err := e.readState(ctx, true)
	if err != nil {
		return nil, err
	}
	services := e.c.Services
	r := &AuditReport{Matrix: make([][]Access, len(services))}
	for i, s := range services {
		r.Services = append(r.Services, s.Name)
		r.Matrix[i] = make([]Access, len(services))
	}

	probe := probeName()
	ready := make([]string, len(services)) // "" when the probe table is in place, else why not
	type cleanup struct{ db, sql string }
	var drops []cleanup
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		for _, d := range drops {
			c, err := e.conn(cctx, d.db)
			if err == nil {
				_, err = c.Exec(cctx, d.sql)
			}
			if err != nil {
				e.log.Warn("audit: could not drop probe tables; drop them by hand", "database", d.db, "sql", d.sql, "err", err)
			}
		}
	}()
	for j, s := range services {
		d := st.databases[s.Schema]
		hasSchema := d != nil && slices.ContainsFunc(d.inside, func(o pgObjectACL) bool { return o.kind == "schema" && o.schema == s.Schema })
		switch {
		case d == nil:
			ready[j] = "database " + s.Schema + " does not exist"
			continue
		case d.service != s.Name:
			ready[j] = "database " + s.Schema + " was not created by skjold for " + s.Name
			continue
		case !hasSchema:
			ready[j] = "schema " + s.Schema + " does not exist in database " + s.Schema
			continue
		}
		c, err := e.conn(ctx, s.Schema)
		if err != nil {
			return nil, err
		}
		table := pgIdent(s.Schema) + "." + pgIdent(probe)
		tables := []string{table}
		for i := range services {
			tables = append(tables, pgIdent(s.Schema)+"."+pgIdent(fmt.Sprintf("%s_by%d", probe, i)))
		}
		drops = append(drops, cleanup{s.Schema, "DROP TABLE IF EXISTS " + strings.Join(tables, ", ")})
		if _, err := c.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int); ALTER TABLE %s OWNER TO %s", table, table, pgIdent(s.User))); err != nil {
			return nil, fmt.Errorf("create probe table %s in database %s: %w", table, s.Schema, err)
		}
	}

	for i, login := range services {
		pw, ok := passwords[login.Name]
		for j, target := range services {
			switch {
			case !ok:
				r.Matrix[i][j] = Access{Err: "no credentials"}
			case ready[j] != "":
				r.Matrix[i][j] = Access{Err: ready[j]}
			default:
				r.Matrix[i][j] = e.probe(ctx, login, pw, target, probe, i)
			}
		}
	}

	e.auditRoles(st, r)
	e.auditPublic(st, r)
	return r, nil
}

// probe logs in as login to target's database and tries to read, write
// and create in its schema.
func (e *pgEngine) probe(ctx context.Context, login Service, pw string, target Service, probe string, i int) Access {
	cfg := e.cfg.Copy()
	cfg.User, cfg.Password, cfg.Database = login.User, pw, target.Schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if pgDenied(err) {
			return Access{Probed: true}
		}
		return Access{Err: strings.ReplaceAll(fmt.Sprintf("log in as %s to database %s: %v", login.User, target.Schema, err), pw, "<redacted>")}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	table := pgIdent(target.Schema) + "." + pgIdent(probe)
	return probeAccess(func(q string) error { _, err := conn.Exec(ctx, q); return err }, pgDenied,
		"SELECT count(*) FROM "+table,
		"INSERT INTO "+table+" (id) VALUES (1)",
		fmt.Sprintf("CREATE TABLE %s.%s (id int)", pgIdent(target.Schema), pgIdent(fmt.Sprintf("%s_by%d", probe, i))))
}

// auditRoles lists roles with cluster-wide powers: attributes, or
// membership in the predefined roles that reach every database.
func (e *pgEngine) auditRoles(st *pgState, r *AuditReport) {
	serviceOf := map[string]string{}
	for _, s := range e.c.Services {
		serviceOf[s.User] = s.Name
	}
	for _, name := range sortedKeys(st.roles) {
		role := st.roles[name]
		var privs []string
		for _, a := range []struct {
			on   bool
			name string
		}{
			{role.super, "SUPERUSER"}, {role.createRole, "CREATEROLE"}, {role.createDB, "CREATEDB"},
			{role.replication, "REPLICATION"}, {role.bypassRLS, "BYPASSRLS"},
		} {
			if a.on {
				privs = append(privs, a.name)
			}
		}
		for _, m := range st.memberOf[name] {
			if slices.Contains(pgGlobalRoles, m) {
				privs = append(privs, "member of "+m)
			}
		}
		if len(privs) > 0 {
			r.GlobalPrivileges = append(r.GlobalPrivileges, AccountPrivileges{Account: "role " + name, Privileges: privs, Service: serviceOf[name]})
		}
	}
}

// auditPublic lists grants to PUBLIC on every database that accepts
// connections and on the schemas and tables inside the ones it read.
func (e *pgEngine) auditPublic(st *pgState, r *AuditReport) {
	for _, name := range sortedKeys(st.databases) {
		d := st.databases[name]
		if !d.allowConn {
			continue
		}
		service := ""
		if d.service != "" && d.service == e.serviceOfDatabase(name) {
			service = d.service
		}
		var privs []string
		for _, a := range d.acl {
			if a.grantee == "PUBLIC" {
				privs = append(privs, a.priv)
			}
		}
		if len(privs) > 0 {
			r.PublicGrants = append(r.PublicGrants, PublicGrant{Object: "database " + name, Privileges: privs, Service: service})
		}
		type key struct{ kind, schema, name string }
		inside := map[key][]string{}
		var keys []key
		for _, o := range d.inside {
			if o.grantee != "PUBLIC" || o.kind == "default" {
				continue
			}
			k := key{o.kind, o.schema, o.name}
			if _, ok := inside[k]; !ok {
				keys = append(keys, k)
			}
			inside[k] = append(inside[k], o.priv)
		}
		for _, k := range keys {
			obj := "schema " + k.schema
			if k.kind == "table" {
				obj = "table " + pgIdent(k.schema) + "." + pgIdent(k.name)
			}
			r.PublicGrants = append(r.PublicGrants, PublicGrant{Object: obj + " in database " + name, Privileges: inside[k], Service: service})
		}
	}
}
