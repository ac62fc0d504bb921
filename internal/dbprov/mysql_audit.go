package dbprov

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// probeName returns a fresh name for the audit's probe tables.
func probeName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "skjold_probe_" + hex.EncodeToString(b)
}

// cleanupTimeout bounds dropping probe tables after an audit, which runs
// even when the audit's context was cancelled.
const cleanupTimeout = 30 * time.Second

func (e *mysqlEngine) audit(ctx context.Context, passwords map[string]string) (*AuditReport, error) {
	st, err := e.readState(ctx)
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
	var drop []string
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		for _, t := range drop {
			if _, err := e.db.ExecContext(cctx, "DROP TABLE IF EXISTS "+t); err != nil {
				e.log.Warn("audit: could not drop probe table; drop it by hand", "table", t, "err", err)
			}
		}
	}()
	for _, s := range services {
		if !st.schemas[s.Schema] {
			continue
		}
		t := mysqlIdent(s.Schema) + "." + mysqlIdent(probe)
		if _, err := e.db.ExecContext(ctx, "CREATE TABLE "+t+" (id INT)"); err != nil {
			return nil, fmt.Errorf("create probe table %s: %w", t, err)
		}
		drop = append(drop, t)
		for i := range services {
			drop = append(drop, mysqlIdent(s.Schema)+"."+mysqlIdent(fmt.Sprintf("%s_by%d", probe, i)))
		}
	}

	for i, login := range services {
		pw, ok := passwords[login.Name]
		if !ok {
			for j := range services {
				r.Matrix[i][j] = Access{Err: "no credentials"}
			}
			continue
		}
		e.probeAs(ctx, st, r.Matrix[i], i, login, pw, probe)
	}

	e.auditAccounts(st, r)
	return r, nil
}

// probeAs logs in as login and fills row with what it may do in every
// service's schema.
func (e *mysqlEngine) probeAs(ctx context.Context, st *mysqlState, row []Access, i int, login Service, pw, probe string) {
	cfg := e.cfg.Clone()
	cfg.User, cfg.Passwd, cfg.DBName = login.User, pw, ""
	fail := func(err error) {
		msg := strings.ReplaceAll(err.Error(), pw, "<redacted>")
		for j := range row {
			row[j] = Access{Err: msg}
		}
	}
	conn, err := mysql.NewConnector(withTimeout(cfg))
	if err != nil {
		fail(err)
		return
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		fail(fmt.Errorf("log in as %s: %w", e.account(login), err))
		return
	}
	for j, target := range e.c.Services {
		if !st.schemas[target.Schema] {
			row[j] = Access{Err: "schema " + target.Schema + " does not exist"}
			continue
		}
		table := mysqlIdent(target.Schema) + "." + mysqlIdent(probe)
		row[j] = probeAccess(func(q string) error { _, err := db.ExecContext(ctx, q); return err }, mysqlDenied,
			"SELECT COUNT(*) FROM "+table,
			"INSERT INTO "+table+" (id) VALUES (1)",
			fmt.Sprintf("CREATE TABLE %s.%s (id INT)", mysqlIdent(target.Schema), mysqlIdent(fmt.Sprintf("%s_by%d", probe, i))))
	}
}

// auditAccounts lists accounts with global privileges, grants to PUBLIC,
// and other accounts that can reach a service's schema.
func (e *mysqlEngine) auditAccounts(st *mysqlState, r *AuditReport) {
	serviceOf := map[account]string{}
	for _, s := range e.c.Services {
		serviceOf[e.account(s)] = s.Name
	}
	global := map[account][]string{}
	var globalOrder []account
	for _, g := range st.grants {
		if g.level != "global" {
			continue
		}
		if _, ok := global[g.grantee]; !ok {
			globalOrder = append(globalOrder, g.grantee)
		}
		global[g.grantee] = append(global[g.grantee], g.priv)
	}
	for _, a := range globalOrder {
		privs := global[a]
		if len(privs) > 8 {
			privs = append(privs[:8:8], fmt.Sprintf("and %d more", len(global[a])-8))
		}
		r.GlobalPrivileges = append(r.GlobalPrivileges, AccountPrivileges{Account: a.String(), Privileges: privs, Service: serviceOf[a]})
	}

	type reach struct {
		who    account
		public bool
		object string
	}
	privs := map[reach][]string{}
	var order []reach
	for _, g := range st.grants {
		if _, isService := serviceOf[g.grantee]; isService || g.level == "global" || g.level == "role" {
			continue // service accounts are plan's drift; global ones are listed above
		}
		if _, isAdmin := global[g.grantee]; isAdmin && !g.public {
			continue
		}
		for _, s := range e.c.Services {
			var object string
			switch {
			case g.level == "schema" && e.patternMatches(g.schema, s.Schema):
				object = mysqlIdent(g.schema) + ".*"
			case g.level != "schema" && g.schema == s.Schema:
				object = mysqlIdent(g.schema) + "." + mysqlIdent(g.object)
			default:
				continue
			}
			k := reach{g.grantee, g.public, object + "\x00" + s.Name}
			if _, ok := privs[k]; !ok {
				order = append(order, k)
			}
			if !slices.Contains(privs[k], g.priv) {
				privs[k] = append(privs[k], g.priv)
			}
		}
	}
	for _, k := range order {
		object, service, _ := strings.Cut(k.object, "\x00")
		list := privs[k]
		switch {
		case k.public:
			r.PublicGrants = append(r.PublicGrants, PublicGrant{Object: object, Privileges: list, Service: service})
		case k.who.user == "":
			r.add(Leak, service, "anonymous account %s, which anyone can log in as, has %s ON %s (service %s's schema)", k.who, strings.Join(list, ", "), object, service)
		default:
			r.add(Warning, service, "account %s, not a skjold service account, has %s ON %s (service %s's schema); skjold leaves it alone", k.who, strings.Join(list, ", "), object, service)
		}
	}
}
