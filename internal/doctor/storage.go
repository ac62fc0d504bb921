package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	majorMinor string // "254:0"
	point      string
	fstype     string
	source     string
}

// parseMountinfo reads /proc/self/mountinfo (proc(5)): fields up to the
// "-" separator, then filesystem type and source. Paths escape space, tab,
// newline and backslash as octal.
func parseMountinfo(b []byte) []mount {
	var out []mount
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		out = append(out, mount{majorMinor: f[2], point: unescapeMount(f[4]), fstype: g[0], source: unescapeMount(g[1])})
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf finds the mount that holds path: the last-mounted of the longest
// mount points that are a prefix of it on a path boundary.
func mountOf(mounts []mount, path string) (mount, bool) {
	var best mount
	found := false
	for _, m := range mounts {
		p := m.point
		if !(path == p || p == "/" || strings.HasPrefix(path, p+"/")) {
			continue
		}
		if !found || len(p) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

// blockDevice describes the block device behind a mount.
type blockDevice struct {
	name       string // "vda1"
	parent     string // "vda" for a partition
	rotational string // "0" or "1"
}

func (d blockDevice) String() string {
	if d.parent != "" && d.parent != d.name {
		return d.name + " on " + d.parent
	}
	return d.name
}

// virtual reports whether the device is a paravirtual disk (virtio, Xen),
// whose rotational flag says nothing about what backs it.
func (d blockDevice) virtual() bool {
	n := d.parent
	if n == "" {
		n = d.name
	}
	return strings.HasPrefix(n, "vd") || strings.HasPrefix(n, "xvd")
}

// blockDeviceOf resolves a mount to its block device through
// /sys/dev/block/MAJOR:MINOR, or through /sys/class/block/NAME for a
// filesystem (btrfs) whose mount has an anonymous device number.
func (h Host) blockDeviceOf(m mount) (blockDevice, error) {
	link := h.path("/sys/dev/block/" + m.majorMinor)
	target, err := os.Readlink(link)
	if err != nil && strings.HasPrefix(m.source, "/dev/") {
		name := filepath.Base(m.source)
		if h.isReal() {
			if p, err := filepath.EvalSymlinks(m.source); err == nil {
				name = filepath.Base(p) // /dev/mapper/x -> dm-0
			}
		}
		link = h.path("/sys/class/block/" + name)
		target, err = os.Readlink(link)
	}
	if err != nil {
		return blockDevice{}, fmt.Errorf("%s (%s) is not on a local block device", m.source, m.fstype)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	d := blockDevice{name: filepath.Base(target)}
	// A partition has no queue of its own; its disk, one directory up, has.
	for _, dir := range []string{target, filepath.Dir(target)} {
		if v, err := os.ReadFile(filepath.Join(dir, "queue", "rotational")); err == nil {
			d.parent = filepath.Base(dir)
			d.rotational = strings.TrimSpace(string(v))
			return d, nil
		}
	}
	return d, fmt.Errorf("%s: no queue/rotational in sysfs", d.name)
}

// DefaultDataDirs are the directories the storage check looks at when none
// are given: the databases', the container runtime's and the logs, each if
// it exists.
func DefaultDataDirs() []string {
	return []string{"/var/lib/mysql", "/var/lib/postgresql", "/var/lib/docker", "/var/log"}
}

// storageCheck reports the block device under each data directory and
// whether the kernel calls it rotational.
func storageCheck(h Host, dirs []string, explicit bool) Check {
	const name = "storage"
	return Check{Name: name, Run: func(context.Context) Result {
		r := Result{Check: name, Expected: "data directories on SSD or NVMe (rotational = 0)",
			Why: "databases and logs of chatty services do many small random writes; a spinning disk " +
				"does about 200 a second and shows up as iowait"}
		mounts := func() []mount {
			b, err := h.readFile("/proc/self/mountinfo")
			if err != nil {
				return nil
			}
			return parseMountinfo(b)
		}()
		if mounts == nil {
			r.Status, r.Found = Skip, "unknown: /proc/self/mountinfo could not be read"
			return r
		}
		type group struct {
			dev  string
			dirs []string
			st   Status
			note string
		}
		var groups []*group
		add := func(dev, dir, note string, st Status) {
			for _, g := range groups {
				if g.dev == dev {
					g.dirs = append(g.dirs, dir)
					return
				}
			}
			groups = append(groups, &group{dev: dev, dirs: []string{dir}, st: st, note: note})
		}
		for _, dir := range dirs {
			p := filepath.Clean(dir)
			if _, err := os.Stat(h.path(p)); err != nil {
				if explicit {
					add("missing", p, "does not exist", Warn)
				}
				continue
			}
			if h.isReal() {
				if real, err := filepath.EvalSymlinks(p); err == nil {
					p = real
				}
			}
			m, ok := mountOf(mounts, p)
			if !ok {
				add("?", p, "no mount holds it", Skip)
				continue
			}
			d, err := h.blockDeviceOf(m)
			switch {
			case err != nil:
				add(m.source, p, err.Error(), Skip)
			case d.rotational == "0":
				add(d.String(), p, d.String()+" (rotational=0: SSD or NVMe)", OK)
			case d.virtual():
				add(d.String(), p, d.String()+" (rotational=1, but a virtual disk cannot tell what backs it; see cpu.iowait)", Skip)
			default:
				add(d.String(), p, d.String()+" (rotational=1: a spinning disk)", Warn)
			}
		}
		if len(groups) == 0 {
			r.Status, r.Found = Skip, "none of "+strings.Join(dirs, ", ")+" exists"
			return r
		}
		// The verdict is the worst of the devices it could judge; Skip only
		// when it could judge none.
		parts := make([]string, 0, len(groups))
		r.Status = Skip
		judged := false
		for _, g := range groups {
			parts = append(parts, strings.Join(g.dirs, ", ")+": "+g.note)
			if g.st == Skip {
				continue
			}
			if !judged || g.st > r.Status {
				r.Status = g.st
			}
			judged = true
		}
		r.Found = strings.Join(parts, "; ")
		return r
	}}
}
