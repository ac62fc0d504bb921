package dbprov

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// planDrop on PostgreSQL: the role stops logging in and its sessions end;
// the service's database is dropped, or kept with the admin as owner of
// what the role owned; in every other database the role's objects go to
// the admin and its privileges are revoked (REASSIGN OWNED, DROP OWNED:
// without them DROP ROLE fails with "objects depend on it"); then the role
// is dropped.
func (e *pgEngine) planDrop(ctx context.Context, service string, keepData bool) (*Plan, error) {
	st, err := e.readState(ctx, false)
	if err != nil {
		return nil, err
	}
	var roles, dbs []string
	for _, name := range sortedKeys(st.roles) {
		if st.roles[name].service == service {
			roles = append(roles, name)
		}
	}
	for _, name := range sortedKeys(st.databases) {
		if st.databases[name].service == service {
			dbs = append(dbs, name)
		}
	}
	if len(roles)+len(dbs) == 0 {
		return nil, ErrNothingToDrop
	}
	plan := &Plan{}
	for _, r := range roles {
		plan.Changes = append(plan.Changes, Change{Service: service, What: fmt.Sprintf("stop role %s logging in, and end its sessions", r),
			Statements: []Statement{
				{SQL: fmt.Sprintf("ALTER ROLE %s NOLOGIN", pgIdent(r))},
				{SQL: fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", pgString(r))},
			}})
	}
	dropped := map[string]bool{}
	for _, d := range dbs {
		if keepData {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s: database %s keeps the data, its objects owned by the admin (a service that should own them again needs REASSIGN OWNED BY the admin, or ALTER ... OWNER, by hand); `skjold db drop %s --drop-data` removes it", service, d, service))
			continue
		}
		dropped[d] = true
		plan.Changes = append(plan.Changes, Change{Service: service, What: fmt.Sprintf("drop database %s and all its data", d),
			Statements: []Statement{{SQL: fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", pgIdent(d))}}})
	}
	for _, r := range roles {
		in, err := e.dependentDatabases(ctx, r)
		if err != nil {
			return nil, err
		}
		var sts []Statement
		for _, db := range in {
			if dropped[db] {
				continue
			}
			sts = append(sts,
				Statement{SQL: fmt.Sprintf("REASSIGN OWNED BY %s TO CURRENT_USER", pgIdent(r)), Database: db},
				Statement{SQL: fmt.Sprintf("DROP OWNED BY %s", pgIdent(r)), Database: db})
		}
		sts = append(sts, Statement{SQL: "DROP ROLE " + pgIdent(r)})
		plan.Changes = append(plan.Changes, Change{Service: service, What: fmt.Sprintf("give role %s's objects to the admin, revoke its privileges, drop it", r), Statements: sts})
	}
	return plan, nil
}

// dependentDatabases lists the databases holding objects role owns or
// privileges granted to it (pg_shdepend), where REASSIGN OWNED and DROP
// OWNED must run before DROP ROLE can. Privileges on databases themselves
// are shared objects: DROP OWNED in the admin's database revokes them.
func (e *pgEngine) dependentDatabases(ctx context.Context, role string) ([]string, error) {
	rows, err := e.admin.Query(ctx, `SELECT DISTINCT coalesce(d.datname, current_database()) FROM pg_shdepend s
		LEFT JOIN pg_database d ON d.oid = s.dbid
		WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
		ORDER BY 1`, role)
	if err != nil {
		return nil, fmt.Errorf("read pg_shdepend: %w", err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read pg_shdepend: %w", err)
	}
	return dbs, nil
}
