package deploy

import (
	"context"
	"strconv"
	"time"
)

// Driver names.
const (
	DriverDocker  = "docker"
	DriverProcess = "process"
)

// Instance is one running copy of a release: a container or a process
// group. It is recorded in the state file, so everything a later deploy
// needs to find and stop it is here.
type Instance struct {
	// Driver is "docker" or "process".
	Driver string `json:"driver"`
	// Address is the host:port the gateway reaches the instance at.
	Address string `json:"address"`
	// Port is the port part of Address.
	Port int `json:"port"`
	// ContainerID and ContainerName identify a container.
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	// PID is the process group leader, StartTicks its start time in clock
	// ticks since boot, so that a recycled PID is never mistaken for it.
	PID        int    `json:"pid,omitempty"`
	StartTicks uint64 `json:"start_ticks,omitempty"`
	// LogPath is the process's output file.
	LogPath string `json:"log,omitempty"`
}

// String names the instance for messages.
func (i *Instance) String() string {
	switch {
	case i == nil:
		return "no instance"
	case i.ContainerName != "":
		return "container " + i.ContainerName + " on " + i.Address
	case i.PID != 0:
		return "pid " + strconv.Itoa(i.PID) + " on " + i.Address
	}
	return i.Address
}

// StartSpec is what a driver starts.
type StartSpec struct {
	// Service, Release and Version label the instance.
	Service string
	Release int
	Version string
	// Owner is a short hash of the state directory; instances carry it so
	// that a search for leftovers finds only this state's instances.
	Owner string
	// Image (docker) or Command (process) to run.
	Image   string
	Command string
	// Dir is a process's working directory.
	Dir string
	// Host and Port are where the instance must be reachable;
	// ContainerPort is the port inside a container.
	Host          string
	Port          int
	ContainerPort int
	// Env is added to the instance's environment, with PORT and the
	// SKJOLD_* variables.
	Env map[string]string
	// LogPath is where a process's output goes.
	LogPath string
}

// Driver runs instances.
type Driver interface {
	// Start starts an instance and returns as soon as it runs; it does
	// not wait for it to be ready.
	Start(ctx context.Context, spec StartSpec) (*Instance, error)
	// Exited reports whether the instance is no longer running, and how
	// it ended ("exited with status 1").
	Exited(ctx context.Context, inst *Instance) (bool, string, error)
	// Logs returns up to n of the instance's last output lines.
	Logs(ctx context.Context, inst *Instance, n int) ([]string, error)
	// Stop stops the instance (SIGTERM, then SIGKILL after grace) and
	// removes it. An instance that is already gone is not an error.
	Stop(ctx context.Context, inst *Instance, grace time.Duration) error
	// Leftovers lists the instances of service started for owner that are
	// still there, running or not.
	Leftovers(ctx context.Context, service, owner string) ([]*Instance, error)
}

// sameInstance reports whether a and b are the same container or process.
func sameInstance(a, b *Instance) bool {
	if a == nil || b == nil || a.Driver != b.Driver {
		return false
	}
	if a.ContainerID != "" || b.ContainerID != "" {
		return a.ContainerID != "" && (a.ContainerID == b.ContainerID || a.ContainerName == b.ContainerName)
	}
	return a.PID == b.PID && a.StartTicks == b.StartTicks
}
