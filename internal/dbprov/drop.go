package dbprov

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Errors of PlanDrop.
var (
	// ErrStillConfigured means the service to drop is still in the config;
	// the next apply would create it again.
	ErrStillConfigured = errors.New("still in databases.services")
	// ErrNothingToDrop means no object on the cluster carries skjold's
	// mark for the service.
	ErrNothingToDrop = errors.New("nothing skjold created for this service")
)

// DropOptions say what Drop does with a service's data.
type DropOptions struct {
	// KeepData keeps the service's schema (MySQL) or database (PostgreSQL)
	// and everything in it, reachable by the admin only: on PostgreSQL the
	// role's objects are reassigned to the admin. Adding the service back
	// to the config and running apply gives it a new user and its data
	// back. Default false: the schema or database is dropped.
	KeepData bool
}

// PlanDrop works out what Drop would run to remove a service that is no
// longer in the config: its user, the user's privileges and, unless
// opts.KeepData, its data. It changes nothing. Only objects carrying
// skjold's mark for the service are touched.
func (p *Provisioner) PlanDrop(ctx context.Context, service string, opts DropOptions) (*Plan, error) {
	if _, ok := p.cluster.service(service); ok {
		return nil, fmt.Errorf("cluster %s: service %s is %w: remove it from the config first, or apply would create it again", p.cluster.Name, service, ErrStillConfigured)
	}
	e, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	plan, err := e.planDrop(ctx, service, opts.KeepData)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: service %s: %w", p.cluster.Name, service, err)
	}
	plan.Cluster, plan.Server = p.cluster.Name, e.server()
	if p.creds.dir != "" && p.creds.exists(service) {
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s: credentials file %s is removed (its password no longer works)", service, p.creds.path(service)))
	}
	return plan, nil
}

// Drop runs the statements of plan, from PlanDrop, in order, then removes
// the service's credentials file. On error the statements before the
// failing one are done; running PlanDrop again shows what is left.
func (p *Provisioner) Drop(ctx context.Context, service string, plan *Plan) error {
	e, err := p.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	for _, c := range plan.Changes {
		for _, st := range c.Statements {
			if err := e.exec(ctx, st, ""); err != nil {
				return fmt.Errorf("cluster %s: drop service %s: %s: %w", p.cluster.Name, service, c.What, err)
			}
		}
	}
	if p.creds.dir != "" {
		if err := os.Remove(p.creds.path(service)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cluster %s: service %s dropped, but its credentials file stays: %w", p.cluster.Name, service, err)
		}
	}
	p.log.Info("dropped", "service", service, "changes", len(plan.Changes))
	return nil
}
