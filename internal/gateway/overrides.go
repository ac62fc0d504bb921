package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/skjold-dev/skjold/internal/atomicfile"
	"github.com/skjold-dev/skjold/internal/config"
)

// The rule for targets set at run time (issue 13): a target switch (the
// admin API's PUT /upstreams/{name}/targets, or a deploy) overrides the
// targets the config file lists for that upstream. The override is written
// atomically to the state directory before it takes effect, holds across
// reloads and restarts, and is shown in /status with where it came from and
// since when. A reload whose file lists other targets for an overridden
// upstream still applies everything else, and warns that the file's targets
// are not used. Dropping the override (DELETE /upstreams/{name}/targets,
// `skjold targets reset`) puts the file's targets back. An upstream the
// config no longer has loses its override.

// Origin says where an upstream's targets come from.
type Origin string

// Origins of an upstream's targets.
const (
	// OriginFile: the config file's targets.
	OriginFile Origin = "file"
	// OriginAdmin: a target switch through the admin API.
	OriginAdmin Origin = "admin"
	// OriginDeploy: a blue/green deploy's switch.
	OriginDeploy Origin = "deploy"
)

// TargetsOrigin is where an upstream's targets come from, and since when
// (zero for the file: its targets are as old as the config).
type TargetsOrigin struct {
	Origin Origin    `json:"origin"`
	Since  time.Time `json:"since,omitzero"`
}

// Override is a runtime replacement of an upstream's file targets.
type Override struct {
	Targets []config.Target `json:"targets"`
	Origin  Origin          `json:"origin"`
	Since   time.Time       `json:"since"`
}

// overridesFile is the state directory's record of the overrides.
const overridesFile = "targets.json"

// overrideState is overridesFile's content.
type overrideState struct {
	Upstreams map[string]Override `json:"upstreams"`
}

// ErrStateDamaged: the overrides file could not be read as JSON.
var ErrStateDamaged = errors.New("target override file is damaged")

// loadOverrides reads the overrides saved in dir; found is false when there
// is no file (dir empty, or nothing was ever saved).
func loadOverrides(dir string) (ov map[string]Override, found bool, err error) {
	if dir == "" {
		return nil, false, nil
	}
	path := filepath.Join(dir, overridesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading target overrides: %w", err)
	}
	var st overrideState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w; it is only ever replaced whole, so it was edited by hand or the disk lost writes: fix it, or move it aside to serve the config file's targets", ErrStateDamaged, path, err)
	}
	for name, o := range st.Upstreams {
		if err := config.CheckTargets(o.Targets); err != nil {
			return nil, false, fmt.Errorf("%w: %s: upstream %s: %w", ErrStateDamaged, path, name, err)
		}
	}
	return st.Upstreams, true, nil
}

// saveOverrides writes ov to dir atomically; nothing happens without a dir
// (the overrides then last until the process ends).
func saveOverrides(dir string, ov map[string]Override) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("saving target overrides: %w (set state_dir to a directory this user can write)", err)
	}
	b, err := json.MarshalIndent(overrideState{Upstreams: ov}, "", "  ")
	if err != nil {
		return fmt.Errorf("saving target overrides: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, overridesFile), append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("saving target overrides: %w (set state_dir to a directory this user can write)", err)
	}
	return nil
}

// overridesFor keeps the overrides of upstreams cfg still has; changed
// reports whether any was dropped.
func overridesFor(cfg *config.Config, ov map[string]Override) (kept map[string]Override, changed bool) {
	kept = maps.Clone(ov)
	if kept == nil {
		kept = map[string]Override{}
	}
	for name := range kept {
		if _, ok := cfg.Upstreams[name]; !ok {
			delete(kept, name)
			changed = true
		}
	}
	return kept, changed
}

// ignoredFileTargets lists, for each overridden upstream whose file lists
// other targets, a warning that the file's targets are not in force.
func ignoredFileTargets(cfg *config.Config, ov map[string]Override) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(ov)) {
		o, file := ov[name], fileTargets(cfg.Upstreams[name])
		if slices.Equal(o.Targets, file) {
			continue // the file says what is in force: nothing is ignored
		}
		out = append(out, fmt.Sprintf("upstream %s: the config file's targets %s are not in force: the %s override of %s (%s) is; drop it with DELETE /upstreams/%s/targets or `skjold targets reset %s`",
			name, addrList(file), o.Origin, o.Since.UTC().Format(time.RFC3339), addrList(o.Targets), name, name))
	}
	return out
}

func addrList(ts []config.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Address
	}
	return out
}
