package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Host is the machine the node checks look at. Every path is read under
// Root, so tests point it at a fixture tree of /proc, /sys and /etc.
type Host struct {
	// Root is the directory the machine's / is found at. Default "/".
	Root string
}

// path turns an absolute path on the host into one under Root.
func (h Host) path(p string) string {
	root := h.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, p)
}

// isReal reports whether Host is the running machine rather than a tree.
func (h Host) isReal() bool { return h.Root == "" || filepath.Clean(h.Root) == "/" }

func (h Host) readFile(p string) ([]byte, error) { return os.ReadFile(h.path(p)) }

// readString reads a small file and trims surrounding space.
func (h Host) readString(p string) (string, error) {
	b, err := h.readFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// sysctlPath is where a key such as net.core.somaxconn lives under /proc/sys.
func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// Sysctl reads a kernel setting by its sysctl name. Values with several
// fields (ip_local_port_range) come back separated by single spaces.
func (h Host) Sysctl(key string) (string, error) {
	s, err := h.readString(sysctlPath(key))
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(s), " "), nil
}

// MemTotal reads the machine's RAM in bytes from /proc/meminfo.
func (h Host) MemTotal() (int64, error) {
	b, err := h.readFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/meminfo has no MemTotal line")
}

// bytesString formats n bytes the way my.cnf and humans read them:
// 16 GiB, 128 MiB, 212992 B.
func bytesString(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	abs := n
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs >= gib:
		return trimFloat(float64(n)/gib) + " GiB"
	case abs >= mib:
		return trimFloat(float64(n)/mib) + " MiB"
	case abs >= kib:
		return trimFloat(float64(n)/kib) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// trimFloat prints f with at most one decimal, none when it is whole.
func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

// percent formats a ratio as a percentage with one decimal below 10 %.
func percent(r float64) string {
	p := r * 100
	if p < 10 {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// judgePeak grades a database's peak memory estimate against the host's
// RAM, appending the share to r.Found. It returns false, with r skipped,
// when the RAM is unknown.
func judgePeak(r *Result, peak, ram int64) bool {
	if ram <= 0 {
		r.Status = Skip
		r.Found += "; host RAM unknown (pass --ram)"
		return false
	}
	share := float64(peak) / float64(ram)
	r.Found += fmt.Sprintf(" (%s of %s)", percent(share), bytesString(ram))
	switch {
	case share > memFail:
		r.Status = Fail
	case share > memWarn:
		r.Status = Warn
	default:
		r.Status = OK
	}
	return true
}
