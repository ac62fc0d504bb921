package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

func pidSelf() int { return os.Getpid() }

// Report is what `skjold deploy status` shows.
type Report struct {
	Service  string `json:"service"`
	Upstream string `json:"upstream"`
	StateDir string `json:"state_dir"`
	// Current is the release serving, with whether its instance runs.
	Current *Release `json:"current,omitempty"`
	Running *bool    `json:"running,omitempty"`
	// Exited says how the current instance ended, when it is not running.
	Exited string `json:"exited,omitempty"`
	// InProgress is a deploy under way, or one that died.
	InProgress *Release `json:"in_progress,omitempty"`
	// Abandoned is true when InProgress's deploy process no longer runs
	// (kill -9, a crash): its instance is left for the next deploy or
	// rollback to clean up.
	Abandoned bool `json:"abandoned,omitempty"`
	// Lock names the process deploying now, if any.
	Lock *Holder `json:"lock,omitempty"`
	// Targets are the gateway's targets for the upstream; GatewayError
	// says why they could not be read.
	Targets      []config.Target `json:"gateway_targets,omitempty"`
	GatewayError string          `json:"gateway_error,omitempty"`
	// Recent are the last releases of the ledger, newest first.
	Recent []*Release `json:"recent"`
}

// Status reads the state directory, asks the driver whether the current
// instance runs and the gateway what it routes to. It does not take the
// lock.
func (d *Deployer) Status(ctx context.Context) (Report, error) {
	st, err := d.store.Load()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Service: d.opts.Service, Upstream: d.opts.Config.Upstream, StateDir: d.store.Dir(),
		Current: st.Current, InProgress: st.InProgress}
	if h, held := lockHolder(d.store.Dir()); held {
		rep.Lock = &h
	}
	// A deploy under way holds the lock; one whose pid holds nothing died.
	if p := st.InProgress; p != nil {
		rep.Abandoned = rep.Lock == nil || rep.Lock.PID != p.PID
	}
	if c := st.Current; c != nil && c.Instance != nil {
		if drv := d.opts.Drivers[c.Instance.Driver]; drv != nil {
			if exited, how, err := drv.Exited(ctx, c.Instance); err == nil {
				running := !exited
				rep.Running, rep.Exited = &running, how
			}
		}
	}
	if d.opts.Gateway != nil {
		if v, err := d.opts.Gateway.Upstream(ctx, d.opts.Config.Upstream); err != nil {
			rep.GatewayError = err.Error()
		} else {
			rep.Targets = v.Targets
		}
	}
	ledger, err := d.store.Ledger()
	if err != nil {
		return rep, err
	}
	for i := len(ledger) - 1; i >= 0 && len(rep.Recent) < 5; i-- {
		rep.Recent = append(rep.Recent, ledger[i])
	}
	return rep, nil
}

// History returns the ledger, newest first.
func (d *Deployer) History() ([]*Release, error) {
	l, err := d.store.Ledger()
	slices.Reverse(l)
	return l, err
}

// lockHolder reports who holds the lock in dir. It reads what the holder
// wrote rather than trying the lock, so that a status never makes a
// deploy starting at the same moment find the lock taken. A holder that
// died (kill -9) left its note behind but no longer runs.
func lockHolder(dir string) (Holder, bool) {
	h := readHolder(filepath.Join(dir, "lock"))
	if h.PID <= 0 {
		return h, false
	}
	err := syscall.Kill(h.PID, 0)
	return h, err == nil || errors.Is(err, syscall.EPERM)
}

// WriteReport prints a status report for people.
func WriteReport(w io.Writer, rep Report, now time.Time) error {
	fmt.Fprintf(w, "service %s (upstream %s, state in %s)\n", rep.Service, rep.Upstream, rep.StateDir)
	switch c := rep.Current; {
	case c == nil:
		fmt.Fprintln(w, "current:  nothing deployed yet")
	default:
		state := ""
		if rep.Running != nil {
			state = ", running"
			if !*rep.Running {
				state = ", NOT RUNNING: " + rep.Exited
			}
		}
		fmt.Fprintf(w, "current:  release %d (%s) %s, %s%s, deployed %s by %s\n", c.Number, c.Version, c.Driver,
			c.Instance, state, deployedAgo(now, c), c.By)
		fmt.Fprintf(w, "          %s\n", c.Source())
	}
	writeInProgress(w, rep, now)
	if h := rep.Lock; h != nil {
		fmt.Fprintf(w, "lock:     held by pid %d (%s, by %s) since %s\n", h.PID, h.Doing, h.By, h.Started.Local().Format("15:04:05"))
	}
	switch {
	case rep.GatewayError != "":
		fmt.Fprintf(w, "gateway:  cannot read: %s\n", rep.GatewayError)
	case rep.Targets != nil:
		fmt.Fprintf(w, "gateway:  upstream %s → %s\n", rep.Upstream, targetList(rep.Targets))
		writeRoutingNote(w, rep)
	}
	if len(rep.Recent) > 0 {
		fmt.Fprintln(w, "recent:")
		return WriteHistory(w, rep.Recent, now)
	}
	return nil
}

// writeInProgress prints the deploy under way, or the one that died.
func writeInProgress(w io.Writer, rep Report, now time.Time) {
	p := rep.InProgress
	switch {
	case p == nil:
	case rep.Abandoned:
		fmt.Fprintf(w, "abandoned: release %d (%s) abandoned by pid %d at step %s, started %s by %s; the next deploy or `rollback` cleans up\n",
			p.Number, p.Version, p.PID, p.Step, ago(now, p.Started), p.By)
	default:
		fmt.Fprintf(w, "deploying: release %d (%s), step %s, started %s by %s (pid %d)\n", p.Number, p.Version, p.Step, ago(now, p.Started), p.By, p.PID)
	}
}

// writeRoutingNote says when the gateway does not route to the current
// release: because a deploy (under way or abandoned) switched it to its
// own, or for no reason the state knows.
func writeRoutingNote(w io.Writer, rep Report) {
	routes := func(r *Release) bool {
		return r != nil && r.Instance != nil &&
			slices.ContainsFunc(rep.Targets, func(t config.Target) bool { return t.Address == r.Instance.Address })
	}
	c := rep.Current
	switch {
	case c == nil || c.Instance == nil || routes(c):
	case routes(rep.InProgress) && rep.Abandoned:
		fmt.Fprintf(w, "          routes to abandoned release %d (%s), not the current release (%s); the next deploy or `rollback` switches back to %s\n",
			rep.InProgress.Number, rep.InProgress.Instance.Address, c.Instance.Address, targetList(rep.InProgress.Previous))
	case routes(rep.InProgress):
		fmt.Fprintf(w, "          routes to release %d (%s), which is being deployed\n", rep.InProgress.Number, rep.InProgress.Instance.Address)
	default:
		fmt.Fprintf(w, "          WARNING: the gateway does not route to the current release (%s); was it restarted without restoring targets?\n", c.Instance.Address)
	}
}

// WriteHistory prints releases as a table, in the order given.
func WriteHistory(w io.Writer, rs []*Release, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  RELEASE\tVERSION\tOUTCOME\tWHEN\tTOOK\tBY\tRUNS\tREASON")
	for _, r := range rs {
		took := "-"
		if r.Seconds > 0 {
			took = roundDur(r.Duration()).String()
		}
		num := fmt.Sprint(r.Number)
		if r.RollbackOf > 0 {
			num += fmt.Sprintf(" (rollback to %d)", r.RollbackOf)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", num, r.Version, r.Outcome, deployedAgo(now, r), took, r.By,
			shorten(r.Driver+" "+r.Source(), 50), shorten(r.Reason, 100))
	}
	return tw.Flush()
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// deployedAgo is the one definition of "deployed N ago", for status and
// history alike: counted from the end of the deploy (when the release
// took the traffic for good, or failed); a deploy that has not finished
// counts from its start.
func deployedAgo(now time.Time, r *Release) string {
	if !r.Finished.IsZero() {
		return ago(now, r.Finished)
	}
	return ago(now, r.Started)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02 15:04")
}

// RestoreTargets points each deployed service's upstream at its current
// release, as the state directories record it, so that a gateway that
// restarts serves what the last deploy switched to rather than the
// targets in its config file. Backup targets from the config are kept.
// A service never deployed, or whose state cannot be read, keeps its
// config's targets; the error lists every such problem.
func RestoreTargets(ctx context.Context, cfg *config.Config, gw TargetSetter, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	names := make([]string, 0, len(cfg.Services))
	for name := range cfg.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		svc := cfg.Services[name]
		dir := cfg.ServiceStateDir(name)
		if _, err := os.Stat(dir); err != nil {
			continue // never deployed here
		}
		st, err := (&Store{dir: dir}).Load()
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
			continue
		}
		if st.Current == nil || st.Current.Instance == nil {
			continue
		}
		addr := st.Current.Instance.Address
		members := []config.Target{{Address: addr, Weight: 1}}
		if u := cfg.Upstreams[svc.Upstream]; u != nil {
			for _, t := range u.Targets {
				if t.Backup && t.Address != addr {
					members = append(members, config.Target{Address: t.Address, Weight: t.Weight, Backup: true})
				}
			}
		}
		if _, err := gw.SetTargets(ctx, svc.Upstream, gateway.TargetSwitch{Targets: members, Origin: gateway.OriginDeploy, DrainTimeout: time.Millisecond}); err != nil {
			errs = append(errs, fmt.Errorf("service %s: restoring upstream %s to release %d at %s: %w", name, svc.Upstream, st.Current.Number, addr, err))
			continue
		}
		log.Info("upstream targets restored from the last deploy", "service", name, "upstream", svc.Upstream,
			"release", st.Current.Number, "version", st.Current.Version, "target", addr)
	}
	return errors.Join(errs...)
}
