package doctor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Thresholds of the open-file checks. A Go program raises its soft limit to
// the hard limit when it starts (Go 1.19 and later), so the hard limit is
// what the gateway gets.
const (
	nofileOK   = 65536
	nofileFail = 8192
)

// Systemctl runs systemctl with args and returns its standard output. It
// is an interface to the running service manager, which tests cannot
// provide, so it is injected.
type Systemctl func(ctx context.Context, args ...string) ([]byte, error)

// parseLimit reads a limit as /proc/PID/limits and systemd write it;
// "unlimited" and "infinity" are math.MaxInt64.
func parseLimit(s string) (int64, error) {
	switch s {
	case "unlimited", "infinity":
		return math.MaxInt64, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func limitString(n int64) string {
	if n == math.MaxInt64 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

// processNofile reads the soft and hard open-file limits of a process from
// /proc/PID/limits.
func (h Host) processNofile(pid string) (soft, hard int64, err error) {
	b, err := h.readFile("/proc/" + pid + "/limits")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			break
		}
		if soft, err = parseLimit(f[0]); err != nil {
			return 0, 0, fmt.Errorf("/proc/%s/limits: %w", pid, err)
		}
		if hard, err = parseLimit(f[1]); err != nil {
			return 0, 0, fmt.Errorf("/proc/%s/limits: %w", pid, err)
		}
		return soft, hard, nil
	}
	return 0, 0, fmt.Errorf("/proc/%s/limits has no \"Max open files\" line", pid)
}

// judgeNofile rates a hard open-file limit.
func judgeNofile(hard int64) Status {
	switch {
	case hard < nofileFail:
		return Fail
	case hard < nofileOK:
		return Warn
	}
	return OK
}

// userGroups returns the groups user belongs to, from /etc/passwd (its
// primary group) and /etc/group.
func (h Host) userGroups(user string) []string {
	var gid string
	if b, err := h.readFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 4 && f[0] == user {
				gid = f[3]
			}
		}
	}
	var groups []string
	if b, err := h.readFile("/etc/group"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 4 {
				continue
			}
			if f[2] == gid || slices.Contains(strings.Split(f[3], ","), user) {
				groups = append(groups, f[0])
			}
		}
	}
	return groups
}

// pamNofile finds the hard nofile limit pam_limits gives user from
// /etc/security/limits.conf and limits.d/*.conf: an entry for the user
// beats one for a group, which beats the "*" default; among equals the
// last one read wins. ok is false when no entry applies.
func (h Host) pamNofile(user string) (limit int64, where string, ok bool) {
	files := []string{"/etc/security/limits.conf"}
	matches, _ := filepath.Glob(h.path("/etc/security/limits.d") + "/*.conf")
	slices.Sort(matches)
	for _, m := range matches {
		files = append(files, "/etc/security/limits.d/"+filepath.Base(m))
	}
	groups := h.userGroups(user)
	best := -1 // 0 wildcard, 1 group, 2 user
	for _, f := range files {
		b, err := h.readFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fl := strings.Fields(line)
			if len(fl) != 4 || fl[2] != "nofile" || (fl[1] != "hard" && fl[1] != "-") {
				continue
			}
			rank := -1
			switch d := fl[0]; {
			case d == user:
				rank = 2
			case user == "root":
				// pam_limits applies neither group nor wildcard
				// entries to root.
			case strings.HasPrefix(d, "@") && slices.Contains(groups, d[1:]):
				rank = 1
			case d == "*":
				rank = 0
			}
			if rank < 0 || rank < best {
				continue
			}
			v, err := parseLimit(fl[3])
			if err != nil {
				continue
			}
			best, limit, where = rank, v, fmt.Sprintf("%s:%d", f, n)
		}
	}
	return limit, where, best >= 0
}

// nofileUserCheck reports the hard open-file limit the service user gets in
// a login session: pam_limits' entry for it, or else what processes
// inherit, read from this process.
func nofileUserCheck(h Host, user string) Check {
	const name = "nofile.user"
	return Check{Name: name, Run: func(context.Context) Result {
		r := Result{Check: name,
			Expected: fmt.Sprintf("hard limit >= %d (fail below %d)", nofileOK, nofileFail),
			Why: "every client connection and every upstream connection is a file; at the limit " +
				"accept() and connect() fail with EMFILE"}
		var hard int64
		if v, where, ok := h.pamNofile(user); ok {
			hard = v
			r.Found = fmt.Sprintf("%s: hard %s (%s)", user, limitString(v), where)
		} else {
			soft, v, err := h.processNofile("self")
			if err != nil {
				r.Status, r.Found = Skip, fmt.Sprintf("%s: unknown: %s", user, unreadable(err))
				return r
			}
			hard = v
			r.Found = fmt.Sprintf("%s: hard %s, soft %s (inherited: no limits.conf entry)", user, limitString(v), limitString(soft))
		}
		r.Status = judgeNofile(hard)
		return r
	}}
}

// nofileSystemdCheck reports what systemd gives a service: the unit's
// LimitNOFILE when the unit is installed, else the manager's
// DefaultLimitNOFILE.
func nofileSystemdCheck(systemctl Systemctl, unit string) Check {
	const name = "nofile.systemd"
	return Check{Name: name, Run: func(ctx context.Context) Result {
		r := Result{Check: name,
			Expected: fmt.Sprintf("hard limit >= %d for the service (LimitNOFILE= in the unit)", nofileOK),
			Why:      "a service started by systemd gets systemd's limit, not the one of a login shell"}
		if systemctl == nil {
			r.Status, r.Found = Skip, "unknown: systemctl is not available"
			return r
		}
		props := func(args ...string) (map[string]string, error) {
			out, err := systemctl(ctx, args...)
			if err != nil {
				return nil, err
			}
			m := map[string]string{}
			for _, line := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
					m[k] = v
				}
			}
			return m, nil
		}
		if unit != "" {
			m, err := props("show", unit, "--property=LoadState,LimitNOFILE,LimitNOFILESoft")
			if err == nil && m["LoadState"] == "loaded" && m["LimitNOFILE"] != "" {
				hard, err := parseLimit(m["LimitNOFILE"])
				if err == nil {
					r.Status = judgeNofile(hard)
					r.Found = fmt.Sprintf("%s: LimitNOFILE=%s", unit, m["LimitNOFILE"])
					if s := m["LimitNOFILESoft"]; s != "" {
						r.Found += ", soft " + s
					}
					return r
				}
			}
		}
		m, err := props("show", "--property=DefaultLimitNOFILE,DefaultLimitNOFILESoft")
		if err != nil {
			r.Status, r.Found = Skip, "unknown: "+err.Error()
			return r
		}
		v := m["DefaultLimitNOFILE"]
		hard, perr := parseLimit(v)
		if perr != nil {
			r.Status, r.Found = Skip, fmt.Sprintf("unknown: systemctl show gave DefaultLimitNOFILE=%q", v)
			return r
		}
		r.Status = judgeNofile(hard)
		r.Found = "DefaultLimitNOFILE=" + v
		if s := m["DefaultLimitNOFILESoft"]; s != "" {
			r.Found += ", soft " + s
		}
		if unit != "" {
			r.Found += " (" + unit + " is not installed; this is what it would get)"
		}
		return r
	}}
}
