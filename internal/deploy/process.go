package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process runs instances as plain processes: /bin/sh -c COMMAND in a
// session (and so a process group) of its own, with output appended to a
// log file. The group outlives `skjold deploy`; stopping it signals the
// whole group, so children the command started stop with it.
type Process struct {
	// Shell runs the command. Default /bin/sh.
	Shell string

	mu sync.Mutex
	// exits holds the wait status of the children this process started,
	// so that "exited with status 1" can be told.
	exits map[int]*childExit
}

type childExit struct {
	done  chan struct{}
	state *os.ProcessState
}

var _ Driver = (*Process)(nil)

// NewProcess returns the process driver.
func NewProcess() *Process { return &Process{exits: map[int]*childExit{}} }

// Start runs spec.Command.
func (p *Process) Start(ctx context.Context, spec StartSpec) (*Instance, error) {
	if strings.TrimSpace(spec.Command) == "" {
		return nil, errors.New("process driver: no command given (use --cmd, or set command in the service's config)")
	}
	shell := p.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o750); err != nil {
		return nil, fmt.Errorf("process driver: log directory: %w", err)
	}
	logf, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("process driver: log file: %w", err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "--- skjold deploy: release %d (%s) starting at %s: %s\n",
		spec.Release, spec.Version, time.Now().Format(time.RFC3339), spec.Command)

	// Not CommandContext: the instance must outlive this deploy.
	cmd := exec.Command(shell, "-c", spec.Command)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), instanceEnv(spec, spec.Port, DriverProcess)...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logf, logf
	// A new session: its own process group to signal as a whole, and no
	// controlling terminal, so ^C on the deploy does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("process driver: starting %q: %w", spec.Command, err)
	}
	pid := cmd.Process.Pid
	ticks, _ := startTicks(pid)
	ce := &childExit{done: make(chan struct{})}
	p.mu.Lock()
	if p.exits == nil {
		p.exits = map[int]*childExit{}
	}
	p.exits[pid] = ce
	p.mu.Unlock()
	go func() {
		// Reap the child so it does not linger as a zombie, and keep its
		// status for Exited.
		_ = cmd.Wait()
		ce.state = cmd.ProcessState
		close(ce.done)
	}()
	return &Instance{
		Driver:     DriverProcess,
		Address:    net.JoinHostPort(spec.Host, strconv.Itoa(spec.Port)),
		Port:       spec.Port,
		PID:        pid,
		StartTicks: ticks,
		LogPath:    spec.LogPath,
	}, nil
}

// instanceEnv is the environment a deploy adds to every instance.
func instanceEnv(spec StartSpec, port int, driver string) []string {
	env := make([]string, 0, len(spec.Env)+5)
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}
	return append(env,
		"PORT="+strconv.Itoa(port),
		"SKJOLD_SERVICE="+spec.Service,
		"SKJOLD_RELEASE="+strconv.Itoa(spec.Release),
		"SKJOLD_VERSION="+spec.Version,
		"SKJOLD_OWNER="+spec.Owner,
		"SKJOLD_DRIVER="+driver,
	)
}

// Exited reports whether the process group's leader is gone.
func (p *Process) Exited(_ context.Context, inst *Instance) (bool, string, error) {
	p.mu.Lock()
	ce := p.exits[inst.PID]
	p.mu.Unlock()
	if ce != nil {
		select {
		case <-ce.done:
			return true, describeExit(ce.state), nil
		default:
			return false, "", nil
		}
	}
	if !p.leaderAlive(inst) {
		return true, "exited", nil
	}
	return false, "", nil
}

func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "exited"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal " + ws.Signal().String()
	}
	return "exited with status " + strconv.Itoa(st.ExitCode())
}

// leaderAlive reports whether the instance's leader still runs: same PID,
// same start time, not a zombie.
func (p *Process) leaderAlive(inst *Instance) bool {
	st, err := readStat(inst.PID)
	if err != nil || st.state == 'Z' || st.state == 'X' {
		return false
	}
	return inst.StartTicks == 0 || st.start == inst.StartTicks
}

// Logs returns the last n lines of the instance's log file.
func (p *Process) Logs(_ context.Context, inst *Instance, n int) ([]string, error) {
	return tailFile(inst.LogPath, n)
}

// Stop sends SIGTERM to the process group, then SIGKILL once grace has
// passed, and waits until no process of the group is left.
func (p *Process) Stop(ctx context.Context, inst *Instance, grace time.Duration) error {
	if inst.PID <= 1 {
		return nil
	}
	// Only signal the group if it is the one we started. Linux does not
	// reuse a PID while a process group of that ID exists, so a leader
	// with another start time means our group is gone and the PID now
	// belongs to someone else.
	if st, err := readStat(inst.PID); err == nil && inst.StartTicks != 0 && st.start != inst.StartTicks {
		return nil
	}
	if len(groupMembers(inst.PID)) == 0 {
		return nil
	}
	_ = syscall.Kill(-inst.PID, syscall.SIGTERM)
	if p.waitGroupGone(ctx, inst.PID, grace) {
		return nil
	}
	_ = syscall.Kill(-inst.PID, syscall.SIGKILL)
	if p.waitGroupGone(ctx, inst.PID, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("process group %d is still there 5s after SIGKILL", inst.PID)
}

// waitGroupGone polls until the group has no living member, up to d.
func (p *Process) waitGroupGone(ctx context.Context, pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(groupMembers(pgid)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Leftovers finds process group leaders whose environment says this
// driver started them for service and owner. Containers' processes are
// visible in /proc too, with the same variables: SKJOLD_DRIVER and the PID
// namespace keep them out.
func (p *Process) Leftovers(_ context.Context, service, owner string) ([]*Instance, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	wantSvc := []byte("SKJOLD_SERVICE=" + service + "\x00")
	wantOwner := []byte("SKJOLD_OWNER=" + owner + "\x00")
	wantDriver := []byte("SKJOLD_DRIVER=" + DriverProcess + "\x00")
	myNS, _ := os.Readlink("/proc/self/ns/pid")
	var out []*Instance
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.pgrp != pid || st.state == 'Z' {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, wantSvc) || !bytes.Contains(env, wantOwner) || !bytes.Contains(env, wantDriver) {
			continue
		}
		if ns, _ := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid")); ns != myNS {
			continue
		}
		inst := &Instance{Driver: DriverProcess, PID: pid, StartTicks: st.start}
		if port := envValue(env, "PORT"); port != "" {
			inst.Port, _ = strconv.Atoi(port)
		}
		out = append(out, inst)
	}
	return out, nil
}

func envValue(environ []byte, key string) string {
	for kv := range bytes.SplitSeq(environ, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(key+"=")); ok {
			return string(v)
		}
	}
	return ""
}

// procStat is what we read from /proc/PID/stat.
type procStat struct {
	state byte
	pgrp  int
	start uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22
	// (starttime).
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pgrp, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{state: f[0][0], pgrp: pgrp, start: start}, nil
}

func startTicks(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.start, err
}

// groupMembers lists the living (not zombie) processes in group pgid.
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err == nil && st.pgrp == pgid && st.state != 'Z' && st.state != 'X' {
			out = append(out, pid)
		}
	}
	return out
}

// tailFile returns the last n lines of path.
func tailFile(path string, n int) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const window = 64 << 10
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-window, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, window))
	if err != nil {
		return nil, err
	}
	return lastLines(b, n), nil
}

func lastLines(b []byte, n int) []string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
