package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/skjold-dev/skjold/internal/atomicfile"
	"github.com/skjold-dev/skjold/internal/config"
)

// Outcome is how a release's deploy ended.
type Outcome string

// Outcomes recorded in the ledger.
const (
	// InProgress: the deploy has not finished. Seen on a release whose
	// deploy process died; the next deploy cleans it up.
	InProgress Outcome = "in_progress"
	// Succeeded: the release took the traffic and passed the watch window.
	Succeeded Outcome = "succeeded"
	// Failed: the release never served (did not start, never became
	// healthy, or the switch was refused); the previous release kept
	// serving throughout.
	Failed Outcome = "failed"
	// RolledBack: the release served, failed during the watch window, and
	// traffic went back to the previous release.
	RolledBack Outcome = "rolled_back"
	// Abandoned: the deploy process died (kill -9, power loss) and a later
	// deploy cleaned up after it.
	Abandoned Outcome = "abandoned"
)

// Release is one attempt to deploy a version of a service, as the ledger
// and the state file record it.
type Release struct {
	// Number counts the service's releases from 1.
	Number int `json:"release"`
	// Version is what the operator called it (--version), else the image
	// tag, else a hash of the command.
	Version string `json:"version"`
	// Driver is "docker" or "process".
	Driver string `json:"driver"`
	// Image is the Docker image (docker driver).
	Image string `json:"image,omitempty"`
	// Command is the command line (process driver).
	Command string `json:"command,omitempty"`
	// RollbackOf is the release this one re-deploys, for a manual
	// rollback.
	RollbackOf int `json:"rollback_of,omitempty"`
	// Instance is what runs the release, once started.
	Instance *Instance `json:"instance,omitempty"`
	// Previous are the upstream's targets before this release's switch,
	// so that a rollback (or a later deploy cleaning up after this one)
	// can put them back.
	Previous []config.Target `json:"previous_targets,omitempty"`
	// By is who deployed it: user@host.
	By string `json:"by"`
	// PID is the deploy process, so a leftover can name it.
	PID int `json:"pid"`
	// Step is the last step the deploy reached.
	Step Step `json:"step,omitempty"`
	// Started and Finished bound the deploy.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Seconds is how long the deploy took.
	Seconds float64 `json:"duration_seconds,omitempty"`
	// Outcome is how it ended.
	Outcome Outcome `json:"outcome"`
	// Reason says why it failed or was rolled back.
	Reason string `json:"reason,omitempty"`
}

// Duration is how long the deploy took.
func (r *Release) Duration() time.Duration { return time.Duration(r.Seconds * float64(time.Second)) }

// Source is the image or the command, whichever the release runs.
func (r *Release) Source() string {
	if r.Image != "" {
		return r.Image
	}
	return r.Command
}

// State is the current assignment of a service: what serves now, and
// what a deploy that has not finished left behind.
type State struct {
	// Service and Upstream name what the state is about.
	Service  string `json:"service"`
	Upstream string `json:"upstream"`
	// Current is the release serving now; nil before the first deploy.
	Current *Release `json:"current,omitempty"`
	// InProgress is a deploy that has not finished. When the process that
	// runs it is gone, its instance is a leftover the next deploy removes.
	InProgress *Release `json:"in_progress,omitempty"`
	// Retiring are instances of releases that were replaced and are being
	// stopped; a deploy that dies while stopping one leaves it here.
	Retiring []*Release `json:"retiring,omitempty"`
	// LastRelease is the highest release number handed out.
	LastRelease int `json:"last_release"`
	// LastPort is the port the latest release was given; the next one
	// starts looking after it, so that a release never reuses the address
	// of the one just removed (the gateway may still hold connections to
	// it).
	LastPort int `json:"last_port,omitempty"`
	// Updated is when the state was last written.
	Updated time.Time `json:"updated"`
}

// ledgerLimit is how many releases the ledger keeps; older ones are
// dropped, oldest first.
const ledgerLimit = 500

// ledgerFile is the on-disk form of the ledger.
type ledgerFile struct {
	Service  string     `json:"service"`
	Releases []*Release `json:"releases"`
}

// Store reads and writes a service's state directory. Every file is
// replaced whole, atomically; a crash leaves either the old or the new
// version, never a mix.
type Store struct {
	dir string
}

// OpenStore makes dir if needed and returns a store for it.
func OpenStore(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("deploy state: no state directory given")
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o750); err != nil {
		return nil, fmt.Errorf("deploy state: %w (set services.<name>.state_dir to a directory this user can write)", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) statePath() string  { return filepath.Join(s.dir, "state.json") }
func (s *Store) ledgerPath() string { return filepath.Join(s.dir, "ledger.json") }

// LogPath is where a process release's output goes.
func (s *Store) LogPath(release int) string {
	return filepath.Join(s.dir, "logs", fmt.Sprintf("release-%d.log", release))
}

// ErrDamaged: a state file could not be read as JSON. Files are only ever
// replaced whole, so this means a hand edit or a disk that lies.
var ErrDamaged = errors.New("deploy state file is damaged")

// Load reads the state; a missing file is an empty state.
func (s *Store) Load() (State, error) {
	var st State
	if err := readJSON(s.statePath(), &st); err != nil {
		return State{}, err
	}
	return st, nil
}

// Save writes the state atomically.
func (s *Store) Save(st State) error {
	st.Updated = time.Now().UTC()
	return writeJSON(s.statePath(), st)
}

// Ledger returns every recorded release, oldest first.
func (s *Store) Ledger() ([]*Release, error) {
	var lf ledgerFile
	if err := readJSON(s.ledgerPath(), &lf); err != nil {
		return nil, err
	}
	return lf.Releases, nil
}

// Record adds r to the ledger, or replaces the entry with its number.
func (s *Store) Record(service string, r *Release) error {
	var lf ledgerFile
	if err := readJSON(s.ledgerPath(), &lf); err != nil {
		return err
	}
	lf.Service = service
	replaced := false
	for i, old := range lf.Releases {
		if old.Number == r.Number {
			lf.Releases[i] = r
			replaced = true
		}
	}
	if !replaced {
		lf.Releases = append(lf.Releases, r)
	}
	if n := len(lf.Releases); n > ledgerLimit {
		lf.Releases = lf.Releases[n-ledgerLimit:]
	}
	return writeJSON(s.ledgerPath(), lf)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deploy state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %w; it is only ever replaced whole, so it was edited by hand or the disk lost writes: fix it or move it aside", ErrDamaged, path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("deploy state: encoding %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("deploy state: %w", err)
	}
	return nil
}
