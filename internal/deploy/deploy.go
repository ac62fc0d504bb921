// Package deploy runs blue/green deploys of the services in a config's
// services section: it starts the new release (green) beside the one that
// serves (blue), waits until green passes its health check, switches the
// gateway's upstream to it through the admin API, drains blue, watches
// green's error ratio at the gateway, and stops blue, rolling back on its
// own when green fails. State (the current assignment and the release
// ledger) lives in a state directory, written atomically, guarded by a
// lock that dies with its holder.
package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/health"
)

// Errors of a deploy, for errors.Is.
var (
	// ErrRolledBack: the new release served, failed during the watch
	// window, and traffic went back to the previous release.
	ErrRolledBack = errors.New("deploy rolled back")
	// ErrSwitchRefused: the gateway did not switch to the new release (it
	// did not pass the gateway's own health check, or the admin API
	// refused); the previous release kept serving.
	ErrSwitchRefused = errors.New("the gateway did not switch to the new release")
	// ErrNothingToRollBack: no earlier successful release differs from the
	// current one.
	ErrNothingToRollBack = errors.New("nothing to roll back to")
	// ErrNoFreePort: every port of the service's range is taken.
	ErrNoFreePort = errors.New("no free port in the service's range")
)

// Options configure a Deployer.
type Options struct {
	// Service is the service's name. Required.
	Service string
	// Config is the service's section, with defaults applied. Required.
	Config *config.Service
	// StateDir is the service's state directory. Required.
	StateDir string
	// Dir is the working directory of process instances. Default: the
	// current directory.
	Dir string
	// Gateway is the gateway's admin API. Required for deploys and
	// rollbacks; Status works without it.
	Gateway Gateway
	// Drivers by name ("docker", "process"). Required for deploys.
	Drivers map[string]Driver
	// Progress receives the deploy's steps. Default: discarded.
	Progress Reporter
	// HealthClient makes the health probes. Default: a client of the
	// deployer's own that never reuses connections or follows redirects.
	HealthClient *http.Client
	// Who is recorded in the ledger as the deployer. Default user@host.
	Who string
	// PollInterval is how often the switch and the watch window read the
	// gateway's counters. Default 50ms, so that a failing release is rolled
	// back within 250ms of crossing the error limit.
	PollInterval time.Duration
}

// Deployer deploys one service. It holds no state between calls: each
// call takes the service's lock and reads the state directory afresh.
type Deployer struct {
	opts  Options
	store *Store
	hc    *http.Client
	owner string
}

// New checks o and returns a Deployer.
func New(o Options) (*Deployer, error) {
	if o.Service == "" || o.Config == nil || o.StateDir == "" {
		return nil, errors.New("deploy: Options.Service, Config and StateDir are required")
	}
	store, err := OpenStore(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Service, err)
	}
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(abs))
	d := &Deployer{opts: o, store: store, hc: o.HealthClient, owner: hex.EncodeToString(sum[:])[:12]}
	if d.hc == nil {
		d.hc = health.NewClient()
	}
	if d.opts.Who == "" {
		d.opts.Who = whoAmI()
	}
	return d, nil
}

// Store is the deployer's state directory.
func (d *Deployer) Store() *Store { return d.store }

func (d *Deployer) progress() Reporter {
	if d.opts.Progress == nil {
		return Discard{}
	}
	return d.opts.Progress
}

func whoAmI() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// Request is what to deploy.
type Request struct {
	// Image deploys a container (docker driver).
	Image string
	// Command deploys a plain process (process driver).
	Command string
	// Version names the release. Default: the image's tag, else a short
	// hash of the command.
	Version string
	// Wait waits for another deploy of the service to finish instead of
	// refusing.
	Wait bool
	// rollbackOf marks a manual rollback.
	rollbackOf int
}

// resolve fills the request from the service's defaults and picks the
// driver.
func (d *Deployer) resolve(req Request) (Request, string, error) {
	cfg := d.opts.Config
	if req.Image != "" && req.Command != "" {
		return req, "", errors.New("give --image or --cmd, not both")
	}
	if req.Image == "" && req.Command == "" {
		switch {
		case cfg.Image != "" && cfg.Command != "":
			return req, "", fmt.Errorf("%s: the config sets both image and command; say which with --image or --cmd", d.opts.Service)
		case cfg.Image != "":
			req.Image = cfg.Image
		case cfg.Command != "":
			req.Command = cfg.Command
		default:
			return req, "", fmt.Errorf("%s: nothing to deploy: give --image IMAGE or --cmd 'COMMAND', or set image or command in services.%s", d.opts.Service, d.opts.Service)
		}
	}
	driver := DriverProcess
	if req.Image != "" {
		driver = DriverDocker
	}
	if req.Version == "" {
		req.Version = defaultVersion(req)
	}
	return req, driver, nil
}

// defaultVersion is the image's tag, or a short hash of the command.
func defaultVersion(req Request) string {
	if req.Image != "" {
		ref := req.Image
		if i := strings.LastIndex(ref, "@"); i >= 0 {
			return ref[i+1:][:min(len(ref)-i-1, 19)]
		}
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			return ref[i+1:]
		}
		return "latest"
	}
	sum := sha256.Sum256([]byte(req.Command))
	return "cmd-" + hex.EncodeToString(sum[:])[:8]
}

// Deploy runs one blue/green deploy and returns its release. The error
// says why it failed (ErrNotHealthy, ErrRolledBack, ErrSwitchRefused,
// ErrLocked, ...); the release, when not nil, is in the ledger either way.
func (d *Deployer) Deploy(ctx context.Context, req Request) (*Release, error) {
	req, driver, err := d.resolve(req)
	if err != nil {
		return nil, err
	}
	if d.opts.Drivers[driver] == nil {
		return nil, fmt.Errorf("%s: the %s driver is not available", d.opts.Service, driver)
	}
	lock, st, err := d.lockAndRecover(ctx, req.Wait, "deploy "+req.Version)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return d.run(ctx, &st, req, driver)
}

// Rollback deploys the previous successful release again, through the
// same blue/green steps as any deploy.
func (d *Deployer) Rollback(ctx context.Context, wait bool) (*Release, error) {
	lock, st, err := d.lockAndRecover(ctx, wait, "rollback")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	prev, err := d.previous(st)
	if err != nil {
		return nil, err
	}
	req := Request{Image: prev.Image, Command: prev.Command, Version: prev.Version, rollbackOf: prev.Number}
	driver := prev.Driver
	if d.opts.Drivers[driver] == nil {
		return nil, fmt.Errorf("%s: the %s driver is not available", d.opts.Service, driver)
	}
	return d.run(ctx, &st, req, driver)
}

// previous is the latest successful release that runs something other
// than the current one.
func (d *Deployer) previous(st State) (*Release, error) {
	ledger, err := d.store.Ledger()
	if err != nil {
		return nil, err
	}
	if st.Current == nil {
		return nil, fmt.Errorf("%s: %w: nothing has been deployed yet", d.opts.Service, ErrNothingToRollBack)
	}
	for i := len(ledger) - 1; i >= 0; i-- {
		r := ledger[i]
		if r.Number < st.Current.Number && r.Outcome == Succeeded &&
			(r.Driver != st.Current.Driver || r.Source() != st.Current.Source()) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%s: %w: release %d (%s) is the only successful one", d.opts.Service, ErrNothingToRollBack,
		st.Current.Number, st.Current.Version)
}

// lockAndRecover takes the lock and cleans up after a deploy that died.
func (d *Deployer) lockAndRecover(ctx context.Context, wait bool, doing string) (*Lock, State, error) {
	sc := d.begin(0, StepLock, "taking the deploy lock in %s", d.store.Dir())
	me := Holder{PID: os.Getpid(), By: d.opts.Who, Started: time.Now(), Doing: doing}
	lock, err := AcquireLock(ctx, d.store.Dir(), d.opts.Service, me, wait, func(h Holder) {
		sc.progress("waiting for pid %d (%s, by %s, since %s)", h.PID, h.Doing, h.By, h.Started.Local().Format("15:04:05"))
	})
	if err != nil {
		sc.fail("%v", err)
		return nil, State{}, err
	}
	st, err := d.store.Load()
	if err != nil {
		lock.Release()
		sc.fail("%v", err)
		return nil, State{}, err
	}
	sc.done("locked")
	st.Service, st.Upstream = d.opts.Service, d.opts.Config.Upstream
	if err := d.recover(ctx, &st); err != nil {
		lock.Release()
		return nil, State{}, err
	}
	return lock, st, nil
}

// run is a deploy under the lock.
func (d *Deployer) run(ctx context.Context, st *State, req Request, driver string) (*Release, error) {
	cfg := d.opts.Config
	drv := d.opts.Drivers[driver]
	rel := &Release{
		Number: st.LastRelease + 1, Version: req.Version, Driver: driver,
		Image: req.Image, Command: req.Command, RollbackOf: req.rollbackOf,
		By: d.opts.Who, PID: os.Getpid(), Step: StepStart, Started: time.Now().UTC(), Outcome: InProgress,
	}
	st.LastRelease = rel.Number
	st.InProgress = rel
	if err := d.save(st, rel); err != nil {
		return nil, err
	}

	// Cleanup must happen even when ctx was cancelled (^C): give it a
	// context of its own, bounded by what stopping and switching back
	// can take.
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx),
			cfg.DrainTimeout.D()+cfg.StopGrace.D()+cfg.Health.Deadline.D()+30*time.Second)
	}

	// 1. Start green.
	port, err := d.pickPort(*st)
	if err != nil {
		return rel, d.finish(st, rel, Failed, err)
	}
	st.LastPort = port
	sc := d.begin(rel.Number, StepStart, "%s %s on %s:%d", driver, rel.Source(), cfg.Host, port)
	inst, err := drv.Start(ctx, StartSpec{
		Service: d.opts.Service, Release: rel.Number, Version: rel.Version, Owner: d.owner,
		Image: req.Image, Command: req.Command, Dir: d.opts.Dir,
		Host: cfg.Host, Port: port, ContainerPort: cfg.ContainerPort,
		Env: cfg.Env, LogPath: d.store.LogPath(rel.Number),
	})
	if err != nil {
		sc.fail("%v", err)
		return rel, d.finish(st, rel, Failed, err)
	}
	rel.Instance = inst
	rel.Step = StepHealth
	if err := d.save(st, nil); err != nil {
		d.stopInstance(ctx, rel, drv, "")
		return rel, d.finish(st, rel, Failed, err)
	}
	sc.done("%s", inst)

	// 2. Wait until it is healthy.
	if err := d.waitHealthy(ctx, rel.Number, drv, inst); err != nil {
		cctx, cancel := cleanupCtx()
		defer cancel()
		d.stopInstance(cctx, rel, drv, "removing the new instance; the previous release kept serving")
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted while waiting for the new release to become healthy: %w", err)
		}
		return rel, d.finish(st, rel, Failed, err)
	}

	// 3. Switch, drain, watch.
	view, err := d.opts.Gateway.Upstream(ctx, cfg.Upstream)
	if err != nil {
		cctx, cancel := cleanupCtx()
		defer cancel()
		d.stopInstance(cctx, rel, drv, "removing the new instance; nothing was switched")
		return rel, d.finish(st, rel, Failed, fmt.Errorf("reading upstream %s from the gateway: %w", cfg.Upstream, err))
	}
	rel.Previous = view.Targets
	next := []config.Target{{Address: inst.Address, Weight: 1}}
	for _, t := range view.Targets {
		if t.Backup && t.Address != inst.Address {
			next = append(next, t)
		}
	}
	rel.Step = StepSwitch
	if err := d.save(st, nil); err != nil {
		d.stopInstance(ctx, rel, drv, "")
		return rel, d.finish(st, rel, Failed, err)
	}
	res := d.switchAndWatch(ctx, st, rel, next)
	switch {
	case !res.switched:
		cctx, cancel := cleanupCtx()
		defer cancel()
		d.stopInstance(cctx, rel, drv, "removing the new instance; the previous release kept serving")
		err := fmt.Errorf("%w: %w", ErrSwitchRefused, res.err)
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted before the switch: %w", context.Cause(ctx))
		}
		return rel, d.finish(st, rel, Failed, err)
	case res.rollback != "":
		cctx, cancel := cleanupCtx()
		defer cancel()
		return rel, d.rollBack(cctx, st, rel, drv, res.rollback)
	}

	// 4. Green is the release now; stop blue.
	blue := st.Current
	st.Current = rel
	st.InProgress = nil
	if blue != nil && blue.Instance != nil && !sameInstance(blue.Instance, rel.Instance) {
		st.Retiring = append(st.Retiring, blue)
	}
	rel.Step = StepStop
	if err := d.save(st, rel); err != nil {
		return rel, err
	}
	cctx, cancel := cleanupCtx()
	defer cancel()
	d.stopRetiring(cctx, st)
	rel.Step = StepDone
	return rel, d.finish(st, rel, Succeeded, nil)
}

// rollBack switches traffic back to the targets green replaced and stops
// green.
func (d *Deployer) rollBack(ctx context.Context, st *State, rel *Release, drv Driver, reason string) error {
	cfg := d.opts.Config
	rel.Step = StepRollback
	_ = d.save(st, nil)
	sc := d.begin(rel.Number, StepRollback, "%s; switching %s back to %s", reason, cfg.Upstream, targetList(rel.Previous))
	res, err := d.opts.Gateway.Switch(ctx, cfg.Upstream, rel.Previous, cfg.Health.Deadline.D(), cfg.DrainTimeout.D())
	if err != nil {
		// Green keeps serving: it is the only thing that does. Say so.
		sc.fail("switching back failed: %v", err)
		blue := st.Current
		st.Current, st.InProgress = rel, nil
		if blue != nil && blue.Instance != nil {
			st.Retiring = append(st.Retiring, blue)
		}
		return d.finish(st, rel, RolledBack, fmt.Errorf("%w: %s, and switching back to %s failed: %w; the new release is still serving",
			ErrRolledBack, reason, targetList(rel.Previous), err))
	}
	sc.done("traffic back on %s%s", targetList(rel.Previous), drainNote(res.Drained, res.Remaining, "the new release"))
	settle(ctx)
	d.stopInstance(ctx, rel, drv, "stopping the new release")
	return d.finish(st, rel, RolledBack, fmt.Errorf("%w: %s", ErrRolledBack, reason))
}

// settleTime is how long an instance that just left the gateway's targets
// is kept before it is stopped. The gateway's drain counts requests in
// flight on the old targets, but a request that chose its target from the
// old set an instant before the switch is counted a moment later; stopping
// at once could refuse its connection.
const settleTime = time.Second

func settle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(settleTime):
	}
}

// stopInstance stops and removes rel's instance, reporting it.
func (d *Deployer) stopInstance(ctx context.Context, rel *Release, drv Driver, why string) {
	if rel.Instance == nil {
		return
	}
	if why == "" {
		why = "stopping"
	}
	sc := d.begin(rel.Number, StepStop, "%s: %s (SIGTERM, SIGKILL after %s)", why, rel.Instance, d.opts.Config.StopGrace.D())
	if err := drv.Stop(ctx, rel.Instance, d.opts.Config.StopGrace.D()); err != nil {
		sc.fail("%v", err)
		return
	}
	sc.done("stopped %s", rel.Instance)
}

// stopRetiring stops the instances of replaced releases.
func (d *Deployer) stopRetiring(ctx context.Context, st *State) {
	var keep []*Release
	for _, r := range st.Retiring {
		drv := d.opts.Drivers[r.Driver]
		if drv == nil {
			keep = append(keep, r)
			continue
		}
		sc := d.begin(r.Number, StepStop, "stopping release %d (%s): %s", r.Number, r.Version, r.Instance)
		if err := drv.Stop(ctx, r.Instance, d.opts.Config.StopGrace.D()); err != nil {
			sc.fail("%v; the next deploy tries again", err)
			keep = append(keep, r)
			continue
		}
		sc.done("stopped release %d", r.Number)
	}
	st.Retiring = keep
	_ = d.save(st, nil)
}

// finish records rel's outcome and returns cause (nil on success).
func (d *Deployer) finish(st *State, rel *Release, outcome Outcome, cause error) error {
	rel.Outcome = outcome
	if cause != nil {
		rel.Reason = firstLine(cause.Error())
	}
	rel.Finished = time.Now().UTC()
	rel.Seconds = rel.Finished.Sub(rel.Started).Seconds()
	if st.InProgress == rel {
		st.InProgress = nil
	}
	if err := d.save(st, rel); err != nil && cause == nil {
		cause = err
	}
	sc := &stepClock{r: d.progress(), service: d.opts.Service, release: rel.Number, step: StepDone, start: rel.Started}
	switch outcome {
	case Succeeded:
		sc.done("release %d (%s) is live on %s", rel.Number, rel.Version, rel.Instance.Address)
	default:
		sc.fail("release %d (%s) %s: %s", rel.Number, rel.Version, strings.ReplaceAll(string(outcome), "_", " "), rel.Reason)
	}
	return cause
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// save writes the state and, when rel is not nil, its ledger entry.
func (d *Deployer) save(st *State, rel *Release) error {
	if err := d.store.Save(*st); err != nil {
		return err
	}
	if rel != nil {
		return d.store.Record(d.opts.Service, rel)
	}
	return nil
}

// pickPort returns a port of the range that nothing listens on and no
// recorded instance uses, starting after the last release's port so that
// releases go round the range.
func (d *Deployer) pickPort(st State) (int, error) {
	cfg := d.opts.Config
	used := map[int]bool{}
	for _, r := range append([]*Release{st.Current, st.InProgress}, st.Retiring...) {
		if r != nil && r.Instance != nil {
			used[r.Instance.Port] = true
		}
	}
	n := cfg.Ports.Len()
	first := 0
	if st.LastPort != 0 {
		first = st.LastPort - cfg.Ports.Lo + 1
	}
	for i := range n {
		port := cfg.Ports.Lo + ((first+i)%n+n)%n
		if used[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("%s: %w %s on %s; widen services.%s.ports or stop what listens there", d.opts.Service, ErrNoFreePort, cfg.Ports, cfg.Host, d.opts.Service)
}

// targetList formats targets for messages.
func targetList(ts []config.Target) string {
	if len(ts) == 0 {
		return "(none)"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Address
		if t.Backup {
			parts[i] += " (backup)"
		}
	}
	return strings.Join(parts, ", ")
}

func drainNote(drained bool, remaining int64, who string) string {
	if drained {
		return "; in-flight requests drained"
	}
	return fmt.Sprintf("; %d connection(s) still open on %s after the drain timeout (WebSockets, long polls): they keep running until it stops", remaining, who)
}
