package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Service is one service that `skjold deploy` runs beside the gateway and
// switches blue/green: the instance that serves now (blue) keeps serving
// until a new one (green) has passed its health check, taken the traffic
// and survived the watch window.
type Service struct {
	// Upstream is the upstream whose targets the service's instances are.
	// A deploy replaces the upstream's primary targets with the new
	// instance; backup targets are left alone. Required.
	Upstream string `yaml:"upstream,omitempty"`
	// Ports is the range a new instance gets a free port from, written
	// "20000-20999". Blue and green run side by side, so the range needs
	// at least two ports. Default 20000-20999.
	Ports PortRange `yaml:"ports,omitempty"`
	// Host is the address instances listen on (process) or are published
	// on (docker), and the host the gateway reaches them at. Default
	// 127.0.0.1.
	Host string `yaml:"host,omitempty"`
	// Image is the Docker image deployed when `skjold deploy` is given
	// neither --image nor --cmd. Default: none.
	Image string `yaml:"image,omitempty"`
	// ContainerPort is the port the service listens on inside its
	// container; it is published on Host at the port the deploy picked,
	// and passed to the container as $PORT. Default 8080.
	ContainerPort int `yaml:"container_port,omitempty"`
	// Command is the command line deployed as a plain process when `skjold
	// deploy` is given neither --image nor --cmd; it runs under /bin/sh -c
	// with $PORT set to the port picked. Default: none.
	Command string `yaml:"command,omitempty"`
	// Dir is the working directory of a process instance. Default: the
	// directory of the config file.
	Dir string `yaml:"dir,omitempty"`
	// Env is added to every instance's environment. PORT and names
	// starting with SKJOLD_ are set by the deploy and may not be given.
	// Default: none.
	Env map[string]string `yaml:"env,omitempty"`
	// Health is how a new instance proves it is ready.
	Health ServiceHealth `yaml:"health,omitempty"`
	// DrainTimeout bounds the wait, after the switch, for requests still
	// running on the old instance. WebSockets and other upgraded
	// connections outlast it: they stay on the old instance until it is
	// stopped at the end of the watch window. Default 30s.
	DrainTimeout Duration `yaml:"drain_timeout,omitempty"`
	// StopGrace is how long an instance may take to exit after SIGTERM
	// before it is killed. Default 10s.
	StopGrace Duration `yaml:"stop_grace,omitempty"`
	// Watch is how long the new instance is watched after the first
	// request it receives (it is judged from that request on, through the
	// drain); the old one keeps running meanwhile, so a rollback is
	// instant. Default 30s.
	Watch Duration `yaml:"watch,omitempty"`
	// MaxErrorRatio is the share of the new instance's requests answered
	// with a 5xx, at the gateway, that rolls a deploy back, 0..1.
	// Default 0.05.
	MaxErrorRatio *float64 `yaml:"max_error_ratio,omitempty"`
	// MinRequests is how many requests the new instance must receive before
	// MaxErrorRatio is judged, so that one failure out of two is not a
	// 50% error ratio. Default 20.
	MinRequests int `yaml:"min_requests,omitempty"`
	// StateDir holds the deploy lock, the current assignment, the release
	// ledger and process logs. A relative path is taken from the config
	// file's directory. Default /var/lib/skjold/deploy/<service name>.
	StateDir string `yaml:"state_dir,omitempty"`
}

// ServiceHealth is the readiness check of a new instance.
type ServiceHealth struct {
	// Path to GET on the new instance. A 2xx answer is a pass. Default
	// /health.
	Path string `yaml:"path,omitempty"`
	// Interval between probes. Default 1s.
	Interval Duration `yaml:"interval,omitempty"`
	// Timeout bounds one probe; at most Interval. Default 1s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Deadline is how long the new instance has to pass; after it the
	// deploy fails and the instance is removed. Default 30s.
	Deadline Duration `yaml:"deadline,omitempty"`
	// Successes is how many passes in a row count as healthy. Default 3.
	Successes int `yaml:"successes,omitempty"`
}

// PortRange is an inclusive range of TCP ports, written "20000-20999".
type PortRange struct {
	// Lo and Hi are the first and last port.
	Lo int `yaml:"-"`
	Hi int `yaml:"-"`
}

// UnmarshalYAML parses "LO-HI" or a single port.
func (p *PortRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a port range such as 20000-20999")
	}
	r, err := ParsePortRange(n.Value)
	if err != nil {
		return err
	}
	*p = r
	return nil
}

// MarshalYAML writes the range as "LO-HI".
func (p PortRange) MarshalYAML() (any, error) { return p.String(), nil }

// String formats the range as "LO-HI".
func (p PortRange) String() string { return fmt.Sprintf("%d-%d", p.Lo, p.Hi) }

// Len is the number of ports in the range.
func (p PortRange) Len() int { return p.Hi - p.Lo + 1 }

// ParsePortRange parses "20000-20999" or "20000".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	a, errA := strconv.Atoi(strings.TrimSpace(lo))
	b, errB := strconv.Atoi(strings.TrimSpace(hi))
	if errA != nil || errB != nil {
		return PortRange{}, fmt.Errorf("expected a port range such as 20000-20999, got %q", s)
	}
	if a < 1 || b > 65535 || a > b {
		return PortRange{}, fmt.Errorf("port range %q must be LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return PortRange{Lo: a, Hi: b}, nil
}

// Defaults of a service.
const (
	DefaultServicePortsLo       = 20000
	DefaultServicePortsHi       = 20999
	DefaultServiceHost          = "127.0.0.1"
	DefaultContainerPort        = 8080
	DefaultServiceHealthPath    = "/health"
	DefaultServiceHealthEvery   = 1 * time.Second
	DefaultServiceHealthTimeout = 1 * time.Second
	DefaultServiceHealthWithin  = 30 * time.Second
	DefaultServiceHealthPasses  = 3
	DefaultDrainTimeout         = 30 * time.Second
	DefaultStopGrace            = 10 * time.Second
	DefaultWatch                = 30 * time.Second
	DefaultMaxErrorRatio        = 0.05
	DefaultWatchMinRequests     = 20
	DefaultStateRoot            = "/var/lib/skjold/deploy"
	DefaultGatewayStateDir      = "/var/lib/skjold/gateway"
)

// ServiceStateDir returns the state directory of the named service: its
// state_dir, taken from the config file's directory when relative.
func (c *Config) ServiceStateDir(name string) string {
	s := c.Services[name]
	if s == nil {
		return ""
	}
	return c.relative(s.StateDir)
}

// ServiceDir returns the working directory of the named service's
// processes: its dir, taken from the config file's directory when
// relative, or that directory itself.
func (c *Config) ServiceDir(name string) string {
	s := c.Services[name]
	if s == nil {
		return ""
	}
	if s.Dir == "" {
		return c.relative(".")
	}
	return c.relative(s.Dir)
}

// GatewayStateDir returns the gateway's state directory: state_dir, taken
// from the config file's directory when relative.
func (c *Config) GatewayStateDir() string { return c.relative(c.StateDir) }

func (c *Config) relative(p string) string {
	if filepath.IsAbs(p) || c.Source == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(c.Source), p)
}

func servicesDefaults(f filler, c *Config) {
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s == nil {
			s = &Service{}
			c.Services[name] = s
		}
		p := keyPath("services", name)
		if s.Ports == (PortRange{}) {
			s.Ports = PortRange{Lo: DefaultServicePortsLo, Hi: DefaultServicePortsHi}
		}
		f.str(p+".host", &s.Host, DefaultServiceHost)
		f.int(p+".container_port", &s.ContainerPort, DefaultContainerPort)
		hp := p + ".health"
		f.str(hp+".path", &s.Health.Path, DefaultServiceHealthPath)
		f.duration(hp+".interval", &s.Health.Interval, DefaultServiceHealthEvery)
		f.duration(hp+".timeout", &s.Health.Timeout, DefaultServiceHealthTimeout)
		f.duration(hp+".deadline", &s.Health.Deadline, DefaultServiceHealthWithin)
		f.int(hp+".successes", &s.Health.Successes, DefaultServiceHealthPasses)
		f.duration(p+".drain_timeout", &s.DrainTimeout, DefaultDrainTimeout)
		f.duration(p+".stop_grace", &s.StopGrace, DefaultStopGrace)
		f.duration(p+".watch", &s.Watch, DefaultWatch)
		ptr(&s.MaxErrorRatio, DefaultMaxErrorRatio)
		f.int(p+".min_requests", &s.MinRequests, DefaultWatchMinRequests)
		f.str(p+".state_dir", &s.StateDir, filepath.Join(DefaultStateRoot, name))
	}
}

func (v validator) services() {
	byUpstream := map[string]string{}
	byStateDir := map[string]string{}
	for _, name := range sortedKeys(v.c.Services) {
		s := v.c.Services[name]
		p := keyPath("services", name)
		v.name(p, "service", name)
		switch {
		case s.Upstream == "":
			v.problemf(p+".upstream", "is required: the upstream whose targets this service's instances are; %s", defined("upstreams", "", sortedKeys(v.c.Upstreams)))
		case v.c.Upstreams[s.Upstream] == nil:
			v.problemf(p+".upstream", "upstream %q is not defined; %s", s.Upstream, defined("upstreams", s.Upstream, sortedKeys(v.c.Upstreams)))
		default:
			if prev, dup := byUpstream[s.Upstream]; dup {
				v.problemf(p+".upstream", "upstream %q is already deployed by %s (line %d); two services switching one upstream would undo each other", s.Upstream, prev, v.r.lineOf(prev))
			} else {
				byUpstream[s.Upstream] = p + ".upstream"
			}
		}
		if s.Ports.Len() < 2 {
			v.problemf(p+".ports", "%s holds %d port; blue and green run side by side, so give at least two, such as %d-%d", s.Ports, s.Ports.Len(), s.Ports.Lo, s.Ports.Lo+9)
		}
		if msg := checkHostPort(s.Host+":1", 1); msg != "" {
			v.problemf(p+".host", "expected an IP address or host name such as 127.0.0.1, got %q", s.Host)
		}
		if s.ContainerPort < 1 || s.ContainerPort > 65535 {
			v.problemf(p+".container_port", "must be a port 1..65535, got %d", s.ContainerPort)
		}
		if strings.TrimSpace(s.Command) == "" && s.Command != "" {
			v.problemf(p+".command", "is blank; leave it out, or give the command line to run")
		}
		for _, k := range sortedKeys(s.Env) {
			ep := keyPath(p+".env", k)
			switch {
			case k == "" || strings.ContainsAny(k, "= \t\n\x00"):
				v.problemf(ep, "%q is not an environment variable name", k)
			case k == "PORT" || strings.HasPrefix(k, "SKJOLD_"):
				v.problemf(ep, "%s is set by skjold deploy for each instance; remove it here", k)
			case strings.ContainsRune(s.Env[k], 0):
				v.problemf(ep, "must not contain a NUL byte")
			}
		}
		h, hp := s.Health, p+".health"
		if !strings.HasPrefix(h.Path, "/") {
			v.problemf(hp+".path", "must start with \"/\", got %q", h.Path)
		}
		if h.Timeout > h.Interval {
			v.problemf(hp+".timeout", "%s is longer than interval (%s); probes of one instance would overlap", h.Timeout.D(), h.Interval.D())
		}
		if h.Deadline < h.Interval {
			v.problemf(hp+".deadline", "%s is shorter than interval (%s), so not even one probe fits", h.Deadline.D(), h.Interval.D())
		}
		if h.Successes < 1 {
			v.problemf(hp+".successes", "must be at least 1, got %d", h.Successes)
		}
		if r := *s.MaxErrorRatio; r < 0 || r > 1 {
			v.problemf(p+".max_error_ratio", "must be between 0 and 1, got %g", r)
		}
		if s.MinRequests < 1 {
			v.problemf(p+".min_requests", "must be at least 1, got %d", s.MinRequests)
		}
		dir := v.c.relative(s.StateDir)
		if prev, dup := byStateDir[dir]; dup {
			v.problemf(p+".state_dir", "%s is already the state directory of %s; each service needs its own (its lock and ledger live there)", dir, prev)
		} else {
			byStateDir[dir] = p
		}
	}
}
