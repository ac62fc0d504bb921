package deploy

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// recover cleans up after a deploy that died holding the lock (the lock
// is free again, but its work is half done): the release it left in
// progress is stopped, or, when the gateway already routes to it, traffic
// goes back to the targets it replaced first; instances of replaced
// releases still running are stopped; and instances labelled for this
// service that no state records are removed.
func (d *Deployer) recover(ctx context.Context, st *State) error {
	cfg := d.opts.Config
	if left := st.InProgress; left != nil {
		sc := d.begin(left.Number, StepCleanup, "release %d (%s) was left in progress at step %q by pid %d (%s), which is gone",
			left.Number, left.Version, left.Step, left.PID, left.By)
		reason := fmt.Sprintf("the deploy (pid %d) died at step %q; cleaned up by pid %d", left.PID, left.Step, pidSelf())
		promoted := false
		if left.Instance != nil {
			if d.opts.Gateway != nil && d.serving(left.Instance.Address) && len(left.Previous) > 0 {
				sc.progress("the gateway routes to it; switching %s back to %s", cfg.Upstream, targetList(left.Previous))
				_, err := d.opts.Gateway.Switch(ctx, cfg.Upstream, left.Previous, cfg.Health.Deadline.D(), cfg.DrainTimeout.D())
				if err != nil {
					// Nothing else serves: keep it, and say so.
					reason += fmt.Sprintf("; it was serving and switching back to %s failed (%v), so it was kept as the current release", targetList(left.Previous), err)
					if st.Current != nil && st.Current.Instance != nil {
						st.Retiring = append(st.Retiring, st.Current)
					}
					st.Current = left
					promoted = true
				} else {
					settle(ctx)
				}
			}
			if !promoted {
				if drv := d.opts.Drivers[left.Instance.Driver]; drv != nil {
					if err := drv.Stop(ctx, left.Instance, cfg.StopGrace.D()); err != nil {
						sc.fail("stopping %s: %v", left.Instance, err)
						return fmt.Errorf("%s: cleaning up release %d left by pid %d: %w", d.opts.Service, left.Number, left.PID, err)
					}
				}
			}
		}
		left.Outcome, left.Reason = Abandoned, reason
		left.Finished = time.Now().UTC()
		left.Seconds = left.Finished.Sub(left.Started).Seconds()
		st.InProgress = nil
		if err := d.save(st, left); err != nil {
			sc.fail("%v", err)
			return err
		}
		if promoted {
			sc.done("kept release %d: %s", left.Number, reason)
		} else {
			sc.done("removed %s", left.Instance)
		}
	}
	if len(st.Retiring) > 0 {
		d.stopRetiring(ctx, st)
	}
	d.removeStrays(ctx, st)
	return nil
}

// removeStrays stops instances labelled for this service and state
// directory that the state does not know: a deploy that died between
// starting an instance and recording it leaves one.
func (d *Deployer) removeStrays(ctx context.Context, st *State) {
	var known []*Instance
	for _, r := range append([]*Release{st.Current, st.InProgress}, st.Retiring...) {
		if r != nil && r.Instance != nil {
			known = append(known, r.Instance)
		}
	}
	names := make([]string, 0, len(d.opts.Drivers))
	for name := range d.opts.Drivers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		drv := d.opts.Drivers[name]
		// An engine that cannot be reached has no strays we could remove;
		// the deploy itself reports it if it needs that driver.
		list, err := drv.Leftovers(ctx, d.opts.Service, d.owner)
		if err != nil {
			continue
		}
		for _, inst := range list {
			if slices.ContainsFunc(known, func(k *Instance) bool { return sameInstance(k, inst) }) {
				continue
			}
			sc := d.begin(0, StepCleanup, "removing an instance no release records: %s", inst)
			if err := drv.Stop(ctx, inst, d.opts.Config.StopGrace.D()); err != nil {
				sc.fail("%v", err)
				continue
			}
			sc.done("removed %s", inst)
		}
	}
}
