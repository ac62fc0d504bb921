package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// systemd answers systemctl show like a systemd host whose skjold.service
// is not installed and whose default limit is limit.
func systemd(limit string) Systemctl {
	return func(_ context.Context, args ...string) ([]byte, error) {
		if len(args) > 1 && args[1] == "skjold.service" {
			return []byte("LoadState=not-found\nLimitNOFILE=524288\nLimitNOFILESoft=1024\n"), nil
		}
		return []byte("DefaultLimitNOFILE=" + limit + "\nDefaultLimitNOFILESoft=1024\n"), nil
	}
}

func healthyOptions(t *testing.T, h Host) NodeOptions {
	return NodeOptions{
		Host:      h,
		Sample:    5 * time.Second,
		Wait:      statWait(t, h, procStat(4705+300, 584+100, 3699176+9600, 23, 0), nil),
		User:      "skjold",
		Systemctl: systemd("524288"),
	}
}

func TestNodeChecksPassOnAWellTunedHost(t *testing.T) {
	h := fixture(t, nil)
	results := Run(context.Background(), NodeChecks(healthyOptions(t, h)))
	want := []string{
		"net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range", "net.core.somaxconn",
		"net.ipv4.tcp_max_syn_backlog", "net.core.rmem_max", "net.core.wmem_max", "net.ipv4.tcp_tw_recycle",
		"cpu.steal", "cpu.iowait", "ports.ephemeral", "ports.listeners", "nofile.user", "nofile.systemd", "storage",
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(results), len(want), results)
	}
	for i, r := range results {
		if r.Check != want[i] {
			t.Errorf("result %d is %s, want %s (results keep the checks' order)", i, r.Check, want[i])
		}
		if r.Status != OK {
			t.Errorf("%s: %s, found %q; want ok on the well-tuned fixture", r.Check, r.Status, r.Found)
		}
		if r.Found == "" || r.Expected == "" || r.Why == "" {
			t.Errorf("%s: found, expected and why must all be filled: %+v", r.Check, r)
		}
	}
	if code := ExitCode(results, true); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestKernelSettingsAreRatedAgainstGatewayTargets(t *testing.T) {
	tests := []struct {
		name      string
		key       string
		files     map[string]string
		want      Status
		wantFound string
	}{
		{"tw_reuse 1 reuses for every destination", "net.ipv4.tcp_tw_reuse", nil, OK, "1"},
		{"tw_reuse 2 is loopback only", "net.ipv4.tcp_tw_reuse", map[string]string{"/proc/sys/net/ipv4/tcp_tw_reuse": "2\n"}, Warn, "2 (loopback only)"},
		{"tw_reuse 0 is off", "net.ipv4.tcp_tw_reuse", map[string]string{"/proc/sys/net/ipv4/tcp_tw_reuse": "0\n"}, Warn, "0 (off)"},
		{"tw_reuse needs timestamps", "net.ipv4.tcp_tw_reuse", map[string]string{"/proc/sys/net/ipv4/tcp_timestamps": "0\n"}, Warn, "tcp_timestamps = 0"},
		{"the default port range is too narrow", "net.ipv4.ip_local_port_range", map[string]string{"/proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n"}, Warn, "32768-60999 (28232 ports)"},
		{"the field guide's port range is wide enough", "net.ipv4.ip_local_port_range", map[string]string{"/proc/sys/net/ipv4/ip_local_port_range": "1024\t65535\n"}, OK, "64512 ports"},
		{"a port range into privileged ports fails", "net.ipv4.ip_local_port_range", map[string]string{"/proc/sys/net/ipv4/ip_local_port_range": "500\t65535\n"}, Fail, "privileged"},
		{"a garbled port range warns", "net.ipv4.ip_local_port_range", map[string]string{"/proc/sys/net/ipv4/ip_local_port_range": "60999 32768\n"}, Warn, "low then high"},
		{"somaxconn 4096 is the modern default", "net.core.somaxconn", nil, OK, "4096"},
		{"somaxconn 128 is the old default", "net.core.somaxconn", map[string]string{"/proc/sys/net/core/somaxconn": "128\n"}, Warn, "128"},
		{"somaxconn above target", "net.core.somaxconn", map[string]string{"/proc/sys/net/core/somaxconn": "65535\n"}, OK, "65535"},
		{"syn backlog below 4096", "net.ipv4.tcp_max_syn_backlog", map[string]string{"/proc/sys/net/ipv4/tcp_max_syn_backlog": "1024\n"}, Warn, "1024"},
		{"rmem_max at the kernel default", "net.core.rmem_max", map[string]string{"/proc/sys/net/core/rmem_max": "212992\n"}, Warn, "212992 (208 KiB)"},
		{"wmem_max at target", "net.core.wmem_max", nil, OK, "16777216 (16 MiB)"},
		{"a missing setting is skipped", "net.core.somaxconn", map[string]string{"/proc/sys/net/core/somaxconn": ""}, Skip, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, tt.files)
			r := runNamed(t, NodeChecks(healthyOptions(t, h)), tt.key)
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestTwRecycleIsFlaggedWhereverSysctlReadsIt(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		want      Status
		wantFound string
	}{
		{"not set", nil, OK, "not set"},
		{"set in sysctl.conf", map[string]string{"/etc/sysctl.conf": "# old tuning\nnet.ipv4.tcp_tw_recycle = 1\n"}, Fail,
			"/etc/sysctl.conf:2 sets net.ipv4.tcp_tw_recycle = 1"},
		{"set in a drop-in with slashes", map[string]string{"/etc/sysctl.d/50-old.conf": "net/ipv4/tcp_tw_recycle=1\n"}, Fail,
			"/etc/sysctl.d/50-old.conf:1"},
		{"set to 0 still breaks sysctl -p", map[string]string{"/etc/sysctl.d/50-old.conf": "-net.ipv4.tcp_tw_recycle = 0\n"}, Warn,
			"/etc/sysctl.d/50-old.conf:1 sets net.ipv4.tcp_tw_recycle = 0"},
		{"set in a vendor directory", map[string]string{"/usr/lib/sysctl.d/30-vendor.conf": "net.ipv4.tcp_tw_recycle = 1\n"}, Fail,
			"/usr/lib/sysctl.d/30-vendor.conf:1"},
		{"a vendor file hidden by /etc is not read", map[string]string{
			"/usr/lib/sysctl.d/30-vendor.conf": "net.ipv4.tcp_tw_recycle = 1\n",
			"/etc/sysctl.d/30-vendor.conf":     "# disabled here\n",
		}, OK, "not set"},
		{"an old kernel has it on", map[string]string{"/proc/sys/net/ipv4/tcp_tw_recycle": "1\n"}, Fail, "running kernel has it = 1"},
		{"a commented line is ignored", map[string]string{"/etc/sysctl.conf": "#net.ipv4.tcp_tw_recycle = 1\n; net.ipv4.tcp_tw_recycle = 1\n"}, OK, "not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, tt.files)
			r := runOne(context.Background(), twRecycleCheck(h))
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestCPUStealAndIowaitAreSampledOverTheInterval(t *testing.T) {
	// The fixture's /proc/stat starts at user 4705, nice 356, system 584,
	// idle 3699176, iowait 23, irq 23, steal 0; each case adds 10000 ticks.
	base := func(user, system, idle, iowait, steal uint64) string {
		return procStat(4705+356+user, 584+23+system, 3699176+idle, 23+iowait, steal)
	}
	tests := []struct {
		name                string
		next                string
		wantSteal, wantIO   Status
		stealFound, ioFound string
	}{
		{"quiet", base(1000, 500, 8500, 0, 0), OK, OK, "0.0% over 5s (2 CPUs)", "0.0%"},
		{"some iowait", base(1000, 500, 7900, 600, 0), OK, Warn, "0.0%", "6.0% over 5s"},
		{"storage-bound", base(1000, 500, 6000, 2500, 0), OK, Fail, "0.0%", "25%"},
		{"noisy neighbour", base(1000, 500, 8100, 0, 400), Warn, OK, "4.0%", "0.0%"},
		{"oversold host", base(1000, 500, 7300, 0, 1200), Fail, OK, "12%", "0.0%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, nil)
			var asked time.Duration
			o := healthyOptions(t, h)
			o.Wait = statWait(t, h, tt.next, &asked)
			m := byName(t, Run(context.Background(), NodeChecks(o)))
			if asked != 5*time.Second {
				t.Errorf("waited %s, want the 5s sample", asked)
			}
			if r := m["cpu.steal"]; r.Status != tt.wantSteal || !strings.Contains(r.Found, tt.stealFound) {
				t.Errorf("steal: got %s %q, want %s containing %q", r.Status, r.Found, tt.wantSteal, tt.stealFound)
			}
			if r := m["cpu.iowait"]; r.Status != tt.wantIO || !strings.Contains(r.Found, tt.ioFound) {
				t.Errorf("iowait: got %s %q, want %s containing %q", r.Status, r.Found, tt.wantIO, tt.ioFound)
			}
		})
	}
}

func TestCPUChecksSkipWhenTheyCannotSample(t *testing.T) {
	t.Run("no time passed", func(t *testing.T) {
		h := fixture(t, nil)
		stat, _ := os.ReadFile(h.path("/proc/stat"))
		o := healthyOptions(t, h)
		o.Wait = statWait(t, h, string(stat), nil)
		r := runNamed(t, NodeChecks(o), "cpu.iowait")
		if r.Status != Skip || !strings.Contains(r.Found, "no CPU time passed") {
			t.Errorf("got %s %q", r.Status, r.Found)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		h := fixture(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		o := healthyOptions(t, h)
		o.Wait = nil // the real timer, which must give up at once
		start := time.Now()
		res := Run(ctx, NodeChecks(o))
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("a cancelled run took %s; the sample must stop with its context", d)
		}
		r := byName(t, res)["cpu.steal"]
		if r.Status != Skip || !strings.Contains(r.Found, context.Canceled.Error()) {
			t.Errorf("got %s %q", r.Status, r.Found)
		}
	})
}

// tcpLine writes one /proc/net/tcp line for IPv4 addresses.
func tcpLine(i int, local, remote string, state int) string {
	return fmt.Sprintf("%4d: %s %s %02X 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 30 10 -1\n",
		i, hexAddr(local), hexAddr(remote), state, 30000+i)
}

// hexAddr encodes "10.0.0.5:3306" as /proc/net/tcp does.
func hexAddr(s string) string {
	host, port, _ := strings.Cut(s, ":")
	var b [4]byte
	fmt.Sscanf(host, "%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3])
	var p int
	fmt.Sscanf(port, "%d", &p)
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], p)
}

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

func TestEphemeralPortHeadroomPerTuple(t *testing.T) {
	// A range of 100 ports makes the thresholds easy to reach.
	table := func(toDB, timeWait, accepted int) string {
		var b strings.Builder
		b.WriteString(tcpHeader)
		i := 0
		// A listener inside the range: its accepted connections hold no
		// ephemeral port.
		b.WriteString(tcpLine(i, "0.0.0.0:40099", "0.0.0.0:0", tcpListen))
		i++
		for n := range accepted {
			b.WriteString(tcpLine(i, "10.0.0.10:40099", fmt.Sprintf("10.0.1.%d:51000", n), 0x01))
			i++
		}
		for n := range toDB {
			st := 0x01
			if n < timeWait {
				st = tcpTimeWait
			}
			b.WriteString(tcpLine(i, fmt.Sprintf("10.0.0.10:%d", 40000+n), "10.0.0.5:3306", st))
			i++
		}
		// Another tuple, smaller: the same ports to another destination.
		for n := range 5 {
			b.WriteString(tcpLine(i, fmt.Sprintf("10.0.0.10:%d", 40000+n), "10.0.0.6:8080", 0x01))
			i++
		}
		return b.String()
	}
	tests := []struct {
		name      string
		tcp       string
		reserved  string
		want      Status
		wantFound string
	}{
		{"plenty of room", table(20, 10, 0), "", OK, "20 sockets (10 in TIME_WAIT) from 10.0.0.10 to 10.0.0.5:3306 use 20% of 100 ports"},
		{"accepted connections do not count", table(20, 0, 90), "", OK, "20 sockets"},
		{"TIME_WAIT counts toward the limit", table(60, 55, 0), "", Warn, "60 sockets (55 in TIME_WAIT)"},
		{"nearly exhausted", table(85, 0, 0), "", Fail, "85%"},
		{"reserved ports shrink the range", table(40, 0, 0), "40090-40099", OK, "40 sockets (0 in TIME_WAIT) from 10.0.0.10 to 10.0.0.5:3306 use 44% of 90 ports"},
		{"reserved ports can tip it over", table(45, 0, 0), "40000-40019,40080-40099", Warn, "of 60 ports"},
		{"no outgoing connections", tcpHeader, "", OK, "no outgoing connections now; 100 ports per tuple"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, map[string]string{
				"/proc/sys/net/ipv4/ip_local_port_range":     "40000\t40099\n",
				"/proc/sys/net/ipv4/ip_local_reserved_ports": tt.reserved + "\n",
				"/proc/net/tcp":  tt.tcp,
				"/proc/net/tcp6": "",
			})
			r := runOne(context.Background(), portsCheck(h))
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestPortsCountIPv6AndTheFixtureHost(t *testing.T) {
	h := fixture(t, map[string]string{"/proc/net/tcp6": "  sl  local_address remote_address st\n" +
		"   0: 0000000000000000000000000A000000:A010 00000000000000000000000005000000:0CEA 01 0 0 0 0 0\n" +
		"   1: 0000000000000000000000000A000000:A011 00000000000000000000000005000000:0CEA 06 0 0 0 0 0\n" +
		"   2: 0000000000000000000000000A000000:A012 00000000000000000000000005000000:0CEA 06 0 0 0 0 0\n"})
	r := runOne(context.Background(), portsCheck(h))
	// ::a → ::5 port 3306 has 3 sockets, more than the fixture's IPv4 tuples.
	if r.Status != OK || !strings.Contains(r.Found, "3 sockets (2 in TIME_WAIT) from ::a to [::5]:3306 use 0.0% of 55296 ports; 3 tuples, 6 outgoing sockets") {
		t.Errorf("got %s %q", r.Status, r.Found)
	}
}

func TestParseHexAddrPort(t *testing.T) {
	tests := map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"0A00000A:0CEA":                         "10.0.0.10:3306",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:01BB": "127.0.0.1:443", // v4-mapped
		"B80D0120000000000000000001000000:1F90": "[2001:db8::1]:8080",
	}
	for in, want := range tests {
		got, err := parseHexAddrPort(in)
		if err != nil || got.String() != want {
			t.Errorf("parseHexAddrPort(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"0100007F", "XYZ:0050", "0100007F:XYZ", "01007F:0050"} {
		if _, err := parseHexAddrPort(bad); err == nil {
			t.Errorf("parseHexAddrPort(%q) succeeded", bad)
		}
	}
}

func TestListenersInsideTheEphemeralRange(t *testing.T) {
	listen := tcpHeader + tcpLine(0, "0.0.0.0:8080", "0.0.0.0:0", tcpListen) + tcpLine(1, "127.0.0.1:45000", "0.0.0.0:0", tcpListen)
	tests := []struct {
		name      string
		files     map[string]string
		want      Status
		wantFound string
	}{
		{"below the range", nil, OK, "no listener in 10240-65535"},
		{"inside the range", map[string]string{"/proc/net/tcp": listen}, Warn, "listening on 45000 inside 10240-65535"},
		{"inside but reserved", map[string]string{"/proc/net/tcp": listen, "/proc/sys/net/ipv4/ip_local_reserved_ports": "45000\n"}, OK, "no listener"},
		{"the field guide's range covers 8080", map[string]string{"/proc/sys/net/ipv4/ip_local_port_range": "1024 65535\n"}, Warn, "listening on 8080, 9901"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, tt.files)
			r := runOne(context.Background(), listenRangeCheck(h))
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestOpenFileLimitOfTheServiceUser(t *testing.T) {
	limits := func(soft, hard string) string {
		return "Limit                     Soft Limit           Hard Limit           Units     \n" +
			"Max open files            " + soft + "                 " + hard + "                 files     \n"
	}
	tests := []struct {
		name      string
		user      string
		files     map[string]string
		want      Status
		wantFound string
	}{
		{"a limits.conf entry for the user", "skjold", nil, OK, "skjold: hard 1048576 (/etc/security/limits.conf:5)"},
		{"a group entry", "app", map[string]string{"/etc/security/limits.d/90-services.conf": "@services hard nofile 16384\n* hard nofile 4096\n"}, Warn,
			"app: hard 16384 (/etc/security/limits.d/90-services.conf:1)"},
		{"the wildcard entry", "app", map[string]string{"/etc/security/limits.d/90-all.conf": "*  -  nofile  4096\n"}, Fail, "hard 4096"},
		{"the wildcard does not apply to root", "root", map[string]string{"/etc/security/limits.d/90-all.conf": "* hard nofile 4096\n",
			"/proc/self/limits": limits("1024", "524288")}, OK, "root: hard 524288, soft 1024 (inherited"},
		{"a soft-only entry is not the hard limit", "app", map[string]string{"/etc/security/limits.d/90-all.conf": "app soft nofile 100\n",
			"/proc/self/limits": limits("1024", "4096")}, Fail, "app: hard 4096, soft 1024 (inherited"},
		{"unlimited", "app", map[string]string{"/proc/self/limits": limits("unlimited", "unlimited")}, OK, "hard unlimited"},
		{"unreadable", "app", map[string]string{"/proc/self/limits": ""}, Skip, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, tt.files)
			r := runOne(context.Background(), nofileUserCheck(h, tt.user))
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestOpenFileLimitSystemdWouldGive(t *testing.T) {
	unit := func(loaded, limit string) Systemctl {
		return func(_ context.Context, args ...string) ([]byte, error) {
			if len(args) > 1 && args[1] == "skjold.service" {
				return []byte("LoadState=" + loaded + "\nLimitNOFILE=" + limit + "\nLimitNOFILESoft=1024\n"), nil
			}
			return []byte("DefaultLimitNOFILE=524288\nDefaultLimitNOFILESoft=1024\n"), nil
		}
	}
	tests := []struct {
		name      string
		systemctl Systemctl
		want      Status
		wantFound string
	}{
		{"the default since systemd 240", systemd("524288"), OK, "DefaultLimitNOFILE=524288, soft 1024 (skjold.service is not installed"},
		{"an old systemd's default", systemd("4096"), Fail, "DefaultLimitNOFILE=4096"},
		{"a middling default", systemd("16384"), Warn, "DefaultLimitNOFILE=16384"},
		{"the unit's own limit wins", unit("loaded", "4096"), Fail, "skjold.service: LimitNOFILE=4096, soft 1024"},
		{"the unit set infinity", unit("loaded", "infinity"), OK, "LimitNOFILE=infinity"},
		{"no systemd", func(context.Context, ...string) ([]byte, error) {
			return nil, errors.New("systemctl: System has not been booted with systemd as init system (PID 1). Can't operate.")
		}, Skip, "unknown: systemctl: System has not been booted"},
		{"no systemctl", nil, Skip, "systemctl is not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runOne(context.Background(), nofileSystemdCheck(tt.systemctl, "skjold.service"))
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestStorageOfTheDataDirectories(t *testing.T) {
	mounts := func(extra string) string {
		b, _ := os.ReadFile("testdata/node/proc/self/mountinfo")
		return string(b) + extra
	}
	tests := []struct {
		name      string
		dirs      []string
		files     map[string]string
		want      Status
		wantFound string
	}{
		{"NVMe partitions", []string{"/var/lib/mysql", "/var/log"}, nil, OK,
			"/var/lib/mysql: nvme0n1p3 on nvme0n1 (rotational=0: SSD or NVMe); /var/log: nvme0n1p2 on nvme0n1"},
		{"a spinning disk", []string{"/var/lib/mysql", "/srv/data"}, map[string]string{
			"/srv/data/.keep":      "x",
			"/proc/self/mountinfo": mounts("50 27 8:17 / /srv/data rw - ext4 /dev/sdb1 rw\n"),
		}, Warn, "/srv/data: sdb1 on sdb (rotational=1: a spinning disk)"},
		{"a virtual disk cannot tell", []string{"/var/log"}, map[string]string{
			"/proc/self/mountinfo": mounts("51 27 254:0 / /var/log rw - ext4 /dev/vda rw\n"),
		}, Skip, "vda (rotational=1, but a virtual disk"},
		{"a virtual disk beside a judged one", []string{"/var/lib/mysql", "/var/log"}, map[string]string{
			"/proc/self/mountinfo": mounts("51 27 254:0 / /var/log rw - ext4 /dev/vda rw\n"),
		}, OK, "/var/log: vda"},
		{"btrfs has an anonymous device number", []string{"/srv/data"}, map[string]string{
			"/srv/data/.keep":      "x",
			"/proc/self/mountinfo": mounts("52 27 0:45 / /srv/data rw - btrfs /dev/sdb1 rw\n"),
		}, Warn, "sdb1 on sdb (rotational=1"},
		{"overlay is no block device", []string{"/srv/data"}, map[string]string{
			"/srv/data/.keep":      "x",
			"/proc/self/mountinfo": mounts("53 27 0:46 / /srv/data rw - overlay overlay rw\n"),
		}, Skip, "overlay (overlay) is not on a local block device"},
		{"an escaped mount point", []string{"/srv/my data"}, map[string]string{
			"/srv/my data/.keep":   "x",
			"/proc/self/mountinfo": mounts("54 27 8:17 / /srv/my\\040data rw - ext4 /dev/sdb1 rw\n"),
		}, Warn, "/srv/my data: sdb1 on sdb"},
		{"a directory given that does not exist", []string{"/srv/nothing"}, nil, Warn, "/srv/nothing: does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fixture(t, tt.files)
			r := runOne(context.Background(), storageCheck(h, tt.dirs, true))
			if r.Status != tt.want || !strings.Contains(r.Found, tt.wantFound) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Found, tt.want, tt.wantFound)
			}
		})
	}
	t.Run("default directories that do not exist are left out", func(t *testing.T) {
		h := fixture(t, nil)
		r := runOne(context.Background(), storageCheck(h, DefaultDataDirs(), false))
		if r.Status != OK || strings.Contains(r.Found, "postgresql") || !strings.Contains(r.Found, "/var/lib/mysql, /var/log") &&
			!strings.Contains(r.Found, "/var/lib/mysql: ") {
			t.Errorf("got %s %q", r.Status, r.Found)
		}
	})
}

func TestAPanickingCheckFailsAlone(t *testing.T) {
	res := Run(context.Background(), []Check{
		{Name: "fine", Run: func(context.Context) Result { return Result{Status: OK, Found: "x"} }},
		{Name: "broken", Run: func(context.Context) Result { panic("boom") }},
	})
	if res[0].Check != "fine" || res[0].Status != OK {
		t.Errorf("first: %+v", res[0])
	}
	if res[1].Check != "broken" || res[1].Status != Fail || !strings.Contains(res[1].Found, "boom") {
		t.Errorf("second: %+v", res[1])
	}
}

func TestChecksRunInParallel(t *testing.T) {
	// Each check waits until all have started: run one after another, they
	// would never finish.
	const n = 5
	started := make(chan struct{}, n)
	all := make(chan struct{})
	go func() {
		for range n {
			<-started
		}
		close(all)
	}()
	checks := make([]Check, n)
	for i := range checks {
		checks[i] = Check{Name: fmt.Sprint(i), Run: func(ctx context.Context) Result {
			started <- struct{}{}
			select {
			case <-all:
				return Result{Status: OK}
			case <-ctx.Done():
				return Result{Status: Fail, Found: "not all checks ran at once"}
			}
		}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range Run(ctx, checks) {
		if r.Status != OK {
			t.Fatalf("%s: %s", r.Check, r.Found)
		}
	}
}

func TestExitCode(t *testing.T) {
	rs := func(ss ...Status) []Result {
		var out []Result
		for _, s := range ss {
			out = append(out, Result{Status: s})
		}
		return out
	}
	tests := []struct {
		results []Result
		strict  bool
		want    int
	}{
		{nil, true, 0},
		{rs(OK, Skip), true, 0},
		{rs(OK, Warn), false, 0},
		{rs(OK, Warn), true, 1},
		{rs(Warn, Fail), false, 2},
		{rs(Fail, Warn), true, 2},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.results, tt.strict); got != tt.want {
			t.Errorf("ExitCode(%v, strict=%v) = %d, want %d", tt.results, tt.strict, got, tt.want)
		}
	}
}

func TestOverallCountsASkipAsPassed(t *testing.T) {
	if got := Overall([]Result{{Status: OK}, {Status: Skip}}); got != OK {
		t.Errorf("ok and skip: %s", got)
	}
	if got := Overall([]Result{{Status: Skip}, {Status: Warn}}); got != Warn {
		t.Errorf("skip and warn: %s", got)
	}
	if got := Overall(nil); got != OK {
		t.Errorf("nothing: %s", got)
	}
}
