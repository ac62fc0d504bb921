package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// kernelSetting is one sysctl the node doctor checks and --fix can set.
type kernelSetting struct {
	key string
	// fix is the value --fix writes when the setting is not ok.
	fix      string
	expected string
	why      string
	// judge rates the current value and says what it found.
	judge func(h Host, value string) (Status, string)
}

// Thresholds of the kernel settings; docs/doctor.md gives the reasoning.
const (
	minSomaxconn     = 4096
	minSynBacklog    = 4096
	minSocketBufMax  = 16 << 20
	minPortRangeSize = 50000
	// defaultPortRange is what --fix writes: twice the kernel's default
	// range, above the ports services commonly listen on (3306, 5432,
	// 6379, 8080, 9090).
	defaultPortRange = "10240 65535"
)

// kernelSettings are the field guide's kernel settings with targets for a
// gateway host on a modern kernel, in the order the report shows them.
func kernelSettings() []kernelSetting {
	return []kernelSetting{
		{
			key:      "net.ipv4.tcp_tw_reuse",
			fix:      "1",
			expected: "1 (reuse TIME_WAIT ports for outgoing connections to any host)",
			why: "every short upstream connection leaves a TIME_WAIT socket holding its port for 60s; " +
				"2 (the kernel's default) reuses them only on loopback, and upstreams live on other hosts",
			judge: judgeTwReuse,
		},
		{
			key:      "net.ipv4.ip_local_port_range",
			fix:      defaultPortRange,
			expected: fmt.Sprintf("at least %d ports, starting at 1024 or above (such as %s)", minPortRangeSize, defaultPortRange),
			why: "each (source, destination, port) tuple can have only this many connections, TIME_WAIT included; " +
				"the default 32768-60999 gives 28232",
			judge: judgePortRange,
		},
		{
			key:      "net.core.somaxconn",
			fix:      strconv.Itoa(minSomaxconn),
			expected: fmt.Sprintf(">= %d (the default since Linux 5.4)", minSomaxconn),
			why: "caps every listener's accept queue (Go asks for this much); a burst larger than it is " +
				"dropped, and clients retransmit only after 1s",
			judge: judgeAtLeast(minSomaxconn, false),
		},
		{
			key:      "net.ipv4.tcp_max_syn_backlog",
			fix:      strconv.Itoa(minSynBacklog),
			expected: fmt.Sprintf(">= %d", minSynBacklog),
			why: "half-open connections a listener keeps; past it the kernel answers with SYN cookies, " +
				"which round the MSS and keep window scaling only when timestamps are on",
			judge: judgeAtLeast(minSynBacklog, false),
		},
		{
			key:      "net.core.rmem_max",
			fix:      strconv.Itoa(minSocketBufMax),
			expected: fmt.Sprintf(">= %d (16 MiB)", minSocketBufMax),
			why: "the most receive buffer a program may ask for with SO_RCVBUF (gRPC servers and proxies do); " +
				"kernel autotuning is bounded by net.ipv4.tcp_rmem instead",
			judge: judgeAtLeast(minSocketBufMax, true),
		},
		{
			key:      "net.core.wmem_max",
			fix:      strconv.Itoa(minSocketBufMax),
			expected: fmt.Sprintf(">= %d (16 MiB)", minSocketBufMax),
			why: "the most send buffer a program may ask for with SO_SNDBUF; " +
				"kernel autotuning is bounded by net.ipv4.tcp_wmem instead",
			judge: judgeAtLeast(minSocketBufMax, true),
		},
	}
}

func judgeTwReuse(h Host, v string) (Status, string) {
	switch v {
	case "1":
		if ts, err := h.Sysctl("net.ipv4.tcp_timestamps"); err == nil && ts == "0" {
			return Warn, "1, but net.ipv4.tcp_timestamps = 0 turns it off (reuse needs timestamps)"
		}
		return OK, "1"
	case "2":
		return Warn, "2 (loopback only)"
	case "0":
		return Warn, "0 (off)"
	}
	return Warn, v + " (not a value the kernel documents)"
}

func judgePortRange(_ Host, v string) (Status, string) {
	lo, hi, err := parsePortRange(v)
	if err != nil {
		return Warn, fmt.Sprintf("%q (%v)", v, err)
	}
	n := hi - lo + 1
	found := fmt.Sprintf("%d-%d (%d ports)", lo, hi, n)
	switch {
	case lo < 1024:
		return Fail, found + ": outgoing connections can take privileged ports that services bind"
	case n < minPortRangeSize:
		return Warn, found
	}
	return OK, found
}

func parsePortRange(v string) (lo, hi int, err error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, 0, errors.New("expected two ports")
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, errors.New("expected two ports, low then high")
	}
	return lo, hi, nil
}

// judgeAtLeast rates an integer setting against a minimum.
func judgeAtLeast(min int64, bytes bool) func(Host, string) (Status, string) {
	return func(_ Host, v string) (Status, string) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Warn, fmt.Sprintf("%q (not an integer)", v)
		}
		found := v
		if bytes {
			found = fmt.Sprintf("%s (%s)", v, bytesString(n))
		}
		if n < min {
			return Warn, found
		}
		return OK, found
	}
}

// kernelCheck builds the check of one setting.
func kernelCheck(h Host, s kernelSetting) Check {
	return Check{Name: s.key, Run: func(context.Context) Result {
		r := Result{Check: s.key, Expected: s.expected, Why: s.why}
		v, err := h.Sysctl(s.key)
		if err != nil {
			r.Status, r.Found = Skip, "unknown: "+unreadable(err)
			return r
		}
		r.Status, r.Found = s.judge(h, v)
		return r
	}}
}

// unreadable says why a file could not be read, without Go's "open ..."
// noise when it simply does not exist.
func unreadable(err error) string {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return pe.Path + " does not exist"
	}
	return err.Error()
}

// sysctlAssignment is one "key = value" line of a sysctl config file.
type sysctlAssignment struct {
	file  string // host path
	line  int
	key   string
	value string
}

func (a sysctlAssignment) String() string {
	return fmt.Sprintf("%s:%d sets %s = %s", a.file, a.line, a.key, a.value)
}

// sysctlDirs are searched by `sysctl --system` (and systemd-sysctl) in this
// order; a file name found in an earlier directory hides the same name in
// later ones.
func sysctlDirs() []string {
	return []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}
}

// sysctlFiles lists the config files `sysctl --system` applies, in the
// order it applies them: the *.conf files of sysctlDirs sorted by name,
// then /etc/sysctl.conf.
func (h Host) sysctlFiles() []string {
	byName := map[string]string{}
	for _, dir := range sysctlDirs() {
		matches, _ := filepath.Glob(h.path(dir) + "/*.conf")
		for _, m := range matches {
			name := filepath.Base(m)
			if _, seen := byName[name]; !seen {
				byName[name] = dir + "/" + name
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	files := make([]string, 0, len(names)+1)
	for _, n := range names {
		files = append(files, byName[n])
	}
	return append(files, "/etc/sysctl.conf")
}

// sysctlAssignments reads every assignment of the files sysctl --system
// applies, in order. Files that cannot be read are skipped.
func (h Host) sysctlAssignments() []sysctlAssignment {
	var out []sysctlAssignment
	for _, f := range h.sysctlFiles() {
		b, err := h.readFile(f)
		if err != nil {
			continue
		}
		out = append(out, parseSysctlConf(f, string(b))...)
	}
	return out
}

// parseSysctlConf reads the sysctl.d(5) format: "key = value" lines,
// comments starting with # or ;, a leading "-" to ignore errors, and "/"
// allowed in place of ".".
func parseSysctlConf(file, text string) []sysctlAssignment {
	var out []sysctlAssignment
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		k = strings.ReplaceAll(k, "/", ".")
		v = strings.Join(strings.Fields(v), " ")
		out = append(out, sysctlAssignment{file: file, line: i + 1, key: k, value: v})
	}
	return out
}

// twRecycleCheck flags net.ipv4.tcp_tw_recycle anywhere sysctl reads it.
// Linux 4.12 removed it because it dropped connections from clients behind
// NAT; a file that still sets it makes `sysctl -p` fail on newer kernels.
func twRecycleCheck(h Host) Check {
	const key = "net.ipv4.tcp_tw_recycle"
	return Check{Name: key, Run: func(context.Context) Result {
		r := Result{Check: key, Expected: "not set anywhere (removed in Linux 4.12)",
			Why: "it dropped connections from clients behind NAT, so Linux removed it; " +
				"a file that still sets it makes sysctl -p fail"}
		var found []string
		r.Status = OK
		for _, a := range h.sysctlAssignments() {
			if a.key != key {
				continue
			}
			found = append(found, a.String())
			if a.value != "0" {
				r.Status = Fail
			} else if r.Status < Warn {
				r.Status = Warn
			}
		}
		if v, err := h.Sysctl(key); err == nil {
			found = append(found, "the running kernel has it = "+v)
			if v != "0" {
				r.Status = Fail
			}
		}
		if len(found) == 0 {
			r.Found = "not set"
		} else {
			r.Found = strings.Join(found, "; ")
		}
		return r
	}}
}
