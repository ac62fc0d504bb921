package dbprov

import (
	"context"
	"errors"
	"fmt"

	"github.com/skjold-dev/skjold/internal/atomicfile"
)

// ApplyOptions change what Apply does.
type ApplyOptions struct {
	// ShowSecrets returns new credentials in ApplyResult.Issued for the
	// caller to print once, instead of writing credentials files.
	ShowSecrets bool
	// RevokeDrift also revokes the privileges plan reports as drift.
	RevokeDrift bool
}

// Issued is a new password apply or rotate gave a service.
type Issued struct {
	Service string
	// Path is the credentials file it was written to; empty when shown.
	Path string
	// Credentials are set only when ShowSecrets asked for them.
	Credentials *Credentials
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	// Plan is what Apply set out to do; on error, a prefix of it is done.
	Plan   *Plan
	Issued []Issued
	// Revoked counts the drift findings revoked.
	Revoked int
}

// Apply makes the cluster match the config: it runs the plan's changes in
// order, issuing a password to every user it creates. Running it again
// changes nothing. With conflicts in the plan it changes nothing and
// returns an error wrapping ErrConflict.
func (p *Provisioner) Apply(ctx context.Context, opts ApplyOptions) (*ApplyResult, error) {
	e, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	plan, err := p.plan(ctx, e)
	if err != nil {
		return nil, err
	}
	res := &ApplyResult{Plan: plan}
	if n := len(plan.Conflicts); n > 0 {
		return res, fmt.Errorf("cluster %s: %s in the way, nothing changed (see skjold db plan): %w", p.cluster.Name, count(n, "object"), ErrConflict)
	}
	for _, c := range plan.Changes {
		issued, err := p.applyChange(ctx, e, c, opts)
		if issued != nil {
			res.Issued = append(res.Issued, *issued)
		}
		if err != nil {
			return res, err
		}
	}
	if opts.RevokeDrift {
		for _, d := range plan.Drift {
			for _, st := range d.Revoke {
				if err := e.exec(ctx, st, ""); err != nil {
					return res, fmt.Errorf("cluster %s: revoke drift of service %s: %w", p.cluster.Name, d.Service, err)
				}
			}
			res.Revoked++
		}
	}
	p.log.Info("applied", "changes", len(plan.Changes), "issued", len(res.Issued), "revoked", res.Revoked)
	return res, nil
}

// applyChange runs one change. A change that creates a user writes the
// user's credentials file (under a temporary name) before the user
// exists, and puts it in place as soon as the statement that sets the
// password succeeds, so a later failure never strands a user whose
// password nobody knows.
func (p *Provisioner) applyChange(ctx context.Context, e engine, c Change, opts ApplyOptions) (*Issued, error) {
	fail := func(err error) error {
		who := c.Service
		if who == "" {
			who = "cluster setup"
		}
		return fmt.Errorf("cluster %s: %s: %w", p.cluster.Name, who, err)
	}
	var password string
	var creds *Credentials
	var file *atomicfile.Pending
	if c.CreatesUser {
		s, ok := p.cluster.service(c.Service)
		if !ok {
			return nil, fail(ErrUnknownService)
		}
		password = newPassword()
		var err error
		if creds, err = p.credentials(e, s, password); err != nil {
			return nil, fail(err)
		}
		if !opts.ShowSecrets {
			if file, err = p.creds.stage(creds, "issued"); err != nil {
				return nil, fail(err)
			}
			defer file.Discard()
		}
	}
	var issued *Issued
	for _, st := range c.Statements {
		if err := e.exec(ctx, st, password); err != nil {
			return issued, fail(err)
		}
		if !c.CreatesUser || !st.setsPassword() {
			continue
		}
		issued = &Issued{Service: c.Service}
		if file == nil {
			issued.Credentials = creds
			continue
		}
		if err := file.PlaceNew(); err != nil {
			if errors.Is(err, atomicfile.ErrExist) {
				err = fmt.Errorf("%w: %w", ErrCredentialsExist, err)
			}
			return nil, fail(fmt.Errorf("user created, but its credentials file could not be written (%w); `skjold db rotate %s` issues a new password", err, c.Service))
		}
		issued.Path = file.Path
		p.log.Info("credentials written", "service", c.Service, "path", file.Path)
	}
	return issued, nil
}

// credentials builds the credentials s logs in with.
func (p *Provisioner) credentials(e engine, s Service, password string) (*Credentials, error) {
	ep, err := e.serviceDSN(s, password)
	if err != nil {
		return nil, err
	}
	return &Credentials{
		Service: s.Name, Cluster: p.cluster.Name, Engine: p.cluster.Engine,
		Host: ep.Host, Port: ep.Port, Database: s.Schema, User: s.User,
		password: password, dsn: ep.DSN,
	}, nil
}

// RotateOptions change what Rotate does.
type RotateOptions struct {
	// ShowSecrets returns the new credentials instead of writing them.
	ShowSecrets bool
}

// Rotate gives a service's user a new password and replaces its
// credentials file atomically.
//
// Connections opened with the old password stay open: both MySQL and
// PostgreSQL check a password only when a connection is made. New
// connections need the new password, so a service that reads its
// credentials file whenever it opens a connection keeps working. Between
// the password change and the rename of the file (microseconds) a new
// connection with the old password fails; docs/databases.md discusses the
// trade-off.
func (p *Provisioner) Rotate(ctx context.Context, service string, opts RotateOptions) (*Issued, error) {
	s, ok := p.cluster.service(service)
	if !ok {
		return nil, fmt.Errorf("cluster %s: service %q: %w", p.cluster.Name, service, ErrUnknownService)
	}
	e, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer e.close()
	exists, managed, err := e.userState(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", p.cluster.Name, err)
	}
	if !exists || !managed {
		why := "its user " + s.User + " does not exist; run skjold db apply"
		if exists {
			why = "its user " + s.User + " was not created by skjold, which leaves it alone"
		}
		return nil, fmt.Errorf("cluster %s: service %s: %s: %w", p.cluster.Name, service, why, ErrNotProvisioned)
	}
	password := newPassword()
	creds, err := p.credentials(e, s, password)
	if err != nil {
		return nil, err
	}
	var file *atomicfile.Pending
	if !opts.ShowSecrets {
		if file, err = p.creds.stage(creds, "rotated"); err != nil {
			return nil, fmt.Errorf("cluster %s: service %s: %w", p.cluster.Name, service, err)
		}
		defer file.Discard()
	}
	if err := e.exec(ctx, e.setPassword(s), password); err != nil {
		return nil, fmt.Errorf("cluster %s: service %s: %w", p.cluster.Name, service, err)
	}
	if file == nil {
		p.log.Info("password rotated", "service", service)
		return &Issued{Service: service, Credentials: creds}, nil
	}
	if err := file.Replace(); err != nil {
		// The old password no longer works and the new one is lost: say so
		// plainly, the service will fail on its next connection.
		return nil, errors.Join(fmt.Errorf("cluster %s: service %s: the password was changed but the new credentials file could not be written; run skjold db rotate %s again", p.cluster.Name, service, service), err)
	}
	p.log.Info("password rotated", "service", service, "path", file.Path)
	return &Issued{Service: service, Path: file.Path}, nil
}
