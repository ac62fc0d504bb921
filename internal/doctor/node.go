package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"time"
)

// DefaultSample is how long the CPU checks watch /proc/stat by default.
const DefaultSample = 3 * time.Second

// NodeOptions configures the node checks. The zero value checks the running
// machine.
type NodeOptions struct {
	// Host is the machine to read. Default: the running machine ("/").
	Host Host
	// Sample is how long the CPU checks watch /proc/stat. Default
	// DefaultSample.
	Sample time.Duration
	// Wait waits between the two reads of /proc/stat. Default: a timer
	// that stops early when ctx is done. Tests use it to swap the file.
	Wait func(ctx context.Context, d time.Duration) error
	// DataDirs are the directories whose storage is checked. Default:
	// those of DefaultDataDirs that exist.
	DataDirs []string
	// User is the service user whose open-file limit is checked. Default:
	// the user running the doctor.
	User string
	// Unit is the systemd unit the service runs as. Default
	// "skjold.service".
	Unit string
	// Systemctl asks the service manager; nil means systemctl is not
	// available. NodeChecks sets it to ExecSystemctl on the running
	// machine when Host.Root is "/" or empty and this is nil.
	Systemctl Systemctl
}

// NodeChecks returns the node checks, in the order the report shows them:
// kernel settings, tcp_tw_recycle, CPU steal and iowait, ports, open files,
// storage.
func NodeChecks(o NodeOptions) []Check {
	h := o.Host
	if o.Sample <= 0 {
		o.Sample = DefaultSample
	}
	if o.Wait == nil {
		o.Wait = sleepCtx
	}
	explicitDirs := len(o.DataDirs) > 0
	if !explicitDirs {
		o.DataDirs = DefaultDataDirs()
	}
	if o.User == "" {
		o.User = "root"
		if u, err := user.Current(); err == nil {
			o.User = u.Username
		}
	}
	if o.Unit == "" {
		o.Unit = "skjold.service"
	}
	if o.Systemctl == nil && h.isReal() {
		o.Systemctl = ExecSystemctl
	}
	var checks []Check
	for _, s := range kernelSettings() {
		checks = append(checks, kernelCheck(h, s))
	}
	checks = append(checks, twRecycleCheck(h))
	checks = append(checks, cpuChecks(h, o.Sample, o.Wait)...)
	checks = append(checks,
		portsCheck(h),
		listenRangeCheck(h),
		nofileUserCheck(h, o.User),
		nofileSystemdCheck(o.Systemctl, o.Unit),
		storageCheck(h, o.DataDirs, explicitDirs),
	)
	return checks
}

// ErrNoSystemctl means systemctl is not installed.
var ErrNoSystemctl = errors.New("systemctl is not installed")

// ExecSystemctl runs the systemctl command. Its error carries the first
// line systemctl printed, such as "System has not been booted with systemd
// as init system (PID 1). Can't operate."
func ExecSystemctl(ctx context.Context, args ...string) ([]byte, error) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return nil, ErrNoSystemctl
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		if msg == "" {
			return nil, fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
		}
		return nil, fmt.Errorf("systemctl: %s", msg)
	}
	return stdout.Bytes(), nil
}
