package dbprov

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
)

// planDrop on MySQL and MariaDB: DROP USER revokes every privilege the
// user holds (there is no ownership to reassign), then the schema is
// dropped unless its data is kept; skjold_meta.managed forgets each object
// once it is gone.
func (e *mysqlEngine) planDrop(ctx context.Context, service string, keepData bool) (*Plan, error) {
	st, err := e.readState(ctx)
	if err != nil {
		return nil, err
	}
	var users []account
	var schemas []string
	for key, svc := range st.managed {
		if svc != service {
			continue
		}
		kind, rest, _ := strings.Cut(key, "\x00")
		if kind == "schema" {
			schemas = append(schemas, rest)
		} else {
			name, host, _ := strings.Cut(rest, "\x00")
			users = append(users, account{name, host})
		}
	}
	if len(users)+len(schemas) == 0 {
		return nil, ErrNothingToDrop
	}
	slices.Sort(schemas)
	slices.SortFunc(users, func(a, b account) int { return strings.Compare(a.String(), b.String()) })

	plan := &Plan{}
	meta := mysqlIdent(config.MetaSchema) + ".`managed`"
	for _, a := range users {
		plan.Changes = append(plan.Changes, Change{Service: service, What: fmt.Sprintf("drop user %s and its privileges", a),
			Statements: []Statement{
				{SQL: "DROP USER IF EXISTS " + a.String()},
				{SQL: fmt.Sprintf("DELETE FROM %s WHERE kind = 'user' AND name = %s AND host = %s", meta, mysqlString(a.user), mysqlString(a.host))},
			}})
		n, err := e.definedBy(ctx, a)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s: %d view(s), routine(s), trigger(s) or event(s) have DEFINER %s; once the user is gone they fail until recreated with another definer", service, n, a))
		}
	}
	for _, s := range schemas {
		if keepData {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s: schema %s keeps the data, reachable by the admin only; add the service back to the config and apply to give it a new user and its data, or `skjold db drop %s --drop-data` removes it", service, s, service))
			continue
		}
		plan.Changes = append(plan.Changes, Change{Service: service, What: fmt.Sprintf("drop schema %s and all its data", s),
			Statements: []Statement{
				{SQL: "DROP DATABASE IF EXISTS " + mysqlIdent(s)},
				{SQL: fmt.Sprintf("DELETE FROM %s WHERE kind = 'schema' AND name = %s", meta, mysqlString(s))},
			}})
	}
	plan.Notes = append(plan.Notes, service+": connections the service has open stay open until they close; the server checks a password only at login")
	return plan, nil
}

// definedBy counts the stored objects that run with a's privileges.
func (e *mysqlEngine) definedBy(ctx context.Context, a account) (int, error) {
	definer := a.user + "@" + a.host
	var n int
	err := e.each(ctx, `SELECT
		(SELECT COUNT(*) FROM information_schema.VIEWS WHERE DEFINER = ?) +
		(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE DEFINER = ?) +
		(SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE DEFINER = ?) +
		(SELECT COUNT(*) FROM information_schema.EVENTS WHERE DEFINER = ?)`, func(r *sql.Rows) error {
		return r.Scan(&n)
	}, definer, definer, definer, definer)
	if err != nil {
		return 0, fmt.Errorf("read the objects defined by %s: %w", a, err)
	}
	return n, nil
}
