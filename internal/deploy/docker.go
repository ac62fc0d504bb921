package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// Container labels. Every container the docker driver creates carries
// them, so that leftovers can be found and nothing else is ever touched.
const (
	LabelManaged = "dev.skjold.managed"
	LabelService = "dev.skjold.service"
	LabelOwner   = "dev.skjold.owner"
	LabelRelease = "dev.skjold.release"
	LabelVersion = "dev.skjold.version"
)

// Docker runs instances as containers through the Docker Engine API. It
// negotiates the API version with the engine, so engines from 20.10 on
// work.
type Docker struct {
	once sync.Once
	cli  *client.Client
	err  error
	// opts build the client; default: the environment (DOCKER_HOST and
	// friends), else the local socket.
	opts []client.Opt
}

var _ Driver = (*Docker)(nil)

// NewDocker returns the docker driver. It connects on first use.
func NewDocker(opts ...client.Opt) *Docker {
	if len(opts) == 0 {
		opts = []client.Opt{client.FromEnv}
	}
	return &Docker{opts: append(opts, client.WithAPIVersionNegotiation())}
}

// Client returns the engine client.
func (d *Docker) Client() (*client.Client, error) {
	d.once.Do(func() {
		d.cli, d.err = client.NewClientWithOpts(d.opts...)
		if d.err != nil {
			d.err = fmt.Errorf("docker driver: %w", d.err)
		}
	})
	return d.cli, d.err
}

// Close releases the client's connections.
func (d *Docker) Close() error {
	if d.cli != nil {
		return d.cli.Close()
	}
	return nil
}

func (d *Docker) engineErr(err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("docker driver: cannot reach the Docker engine: %w (is dockerd running, and may this user use its socket?)", err)
	}
	return fmt.Errorf("docker driver: %w", err)
}

// containerName is unique per state directory and release.
func containerName(spec StartSpec) string {
	return fmt.Sprintf("skjold-%s-%s-r%d", spec.Service, spec.Owner[:min(6, len(spec.Owner))], spec.Release)
}

// Start creates and starts a container from spec.Image, publishing its
// ContainerPort on Host:Port.
func (d *Docker) Start(ctx context.Context, spec StartSpec) (*Instance, error) {
	cli, err := d.Client()
	if err != nil {
		return nil, err
	}
	if spec.Image == "" {
		return nil, errors.New("docker driver: no image given (use --image, or set image in the service's config)")
	}
	if err := d.ensureImage(ctx, cli, spec.Image); err != nil {
		return nil, err
	}
	cport := nat.Port(strconv.Itoa(spec.ContainerPort) + "/tcp")
	name := containerName(spec)
	cfg := &container.Config{
		Image:        spec.Image,
		Env:          instanceEnv(spec, spec.ContainerPort, DriverDocker),
		ExposedPorts: nat.PortSet{cport: struct{}{}},
		Labels: map[string]string{
			LabelManaged: "true",
			LabelService: spec.Service,
			LabelOwner:   spec.Owner,
			LabelRelease: strconv.Itoa(spec.Release),
			LabelVersion: spec.Version,
		},
	}
	hc := &container.HostConfig{
		PortBindings: nat.PortMap{cport: {{HostIP: spec.Host, HostPort: strconv.Itoa(spec.Port)}}},
		// Restarted after a crash or a reboot of the engine, like any
		// service; a crash during the deploy is still seen (Exited).
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
	}
	created, err := cli.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if cerrdefs.IsConflict(err) {
		// A container of that name is a leftover of the same release
		// number; it was never recorded as serving, so it may go.
		_ = cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
		created, err = cli.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	}
	if err != nil {
		return nil, d.engineErr(fmt.Errorf("creating container %s from %s: %w", name, spec.Image, err))
	}
	inst := &Instance{
		Driver:        DriverDocker,
		Address:       net.JoinHostPort(spec.Host, strconv.Itoa(spec.Port)),
		Port:          spec.Port,
		ContainerID:   created.ID,
		ContainerName: name,
	}
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		_ = cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
		return nil, d.engineErr(fmt.Errorf("starting container %s (image %s, port %s): %w", name, spec.Image, inst.Address, err))
	}
	return inst, nil
}

// ensureImage pulls the image when the engine does not have it.
func (d *Docker) ensureImage(ctx context.Context, cli *client.Client, ref string) error {
	_, err := cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return d.engineErr(fmt.Errorf("looking up image %s: %w", ref, err))
	}
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return d.engineErr(fmt.Errorf("image %s is not on this machine and pulling it failed: %w", ref, err))
	}
	defer rc.Close()
	// The pull runs as long as its stream is read; errors arrive in it.
	b, err := io.ReadAll(rc)
	if err != nil {
		return d.engineErr(fmt.Errorf("pulling image %s: %w", ref, err))
	}
	if i := bytes.Index(b, []byte(`"error"`)); i >= 0 {
		return d.engineErr(fmt.Errorf("pulling image %s: %s", ref, strings.TrimSpace(string(b[i:min(len(b), i+300)]))))
	}
	return nil
}

// Exited reports whether the container stopped or is restarting.
func (d *Docker) Exited(ctx context.Context, inst *Instance) (bool, string, error) {
	cli, err := d.Client()
	if err != nil {
		return false, "", err
	}
	info, err := cli.ContainerInspect(ctx, inst.ContainerID)
	if cerrdefs.IsNotFound(err) {
		return true, "was removed", nil
	}
	if err != nil {
		return false, "", d.engineErr(err)
	}
	st := info.State
	if st == nil || (st.Running && !st.Restarting) {
		return false, "", nil
	}
	how := "exited with status " + strconv.Itoa(st.ExitCode)
	if st.OOMKilled {
		how += " (killed: out of memory)"
	}
	if st.Error != "" {
		how += " (" + st.Error + ")"
	}
	if info.RestartCount > 0 {
		how += fmt.Sprintf("; restarted %d time(s) by the engine", info.RestartCount)
	}
	return true, how, nil
}

// Logs returns the container's last n lines of output.
func (d *Docker) Logs(ctx context.Context, inst *Instance, n int) ([]string, error) {
	cli, err := d.Client()
	if err != nil {
		return nil, err
	}
	rc, err := cli.ContainerLogs(ctx, inst.ContainerID, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n),
	})
	if err != nil {
		return nil, d.engineErr(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Containers without a TTY multiplex stdout and stderr; one buffer
	// keeps their lines in order.
	if _, err := stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 1<<20)); err != nil {
		return nil, d.engineErr(err)
	}
	return lastLines(buf.Bytes(), n), nil
}

// Stop stops the container (SIGTERM, SIGKILL after grace) and removes it.
func (d *Docker) Stop(ctx context.Context, inst *Instance, grace time.Duration) error {
	cli, err := d.Client()
	if err != nil {
		return err
	}
	id := inst.ContainerID
	if id == "" {
		id = inst.ContainerName
	}
	secs := int(math.Ceil(grace.Seconds()))
	err = cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return d.engineErr(fmt.Errorf("stopping container %s: %w", inst.ContainerName, err))
	}
	err = cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return d.engineErr(fmt.Errorf("removing container %s: %w", inst.ContainerName, err))
	}
	return nil
}

// Leftovers lists the containers labelled for service and owner.
func (d *Docker) Leftovers(ctx context.Context, service, owner string) ([]*Instance, error) {
	cli, err := d.Client()
	if err != nil {
		return nil, err
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelService+"="+service),
		filters.Arg("label", LabelOwner+"="+owner),
	)})
	if err != nil {
		return nil, d.engineErr(err)
	}
	out := make([]*Instance, 0, len(list))
	for _, c := range list {
		inst := &Instance{Driver: DriverDocker, ContainerID: c.ID}
		if len(c.Names) > 0 {
			inst.ContainerName = strings.TrimPrefix(c.Names[0], "/")
		}
		for _, p := range c.Ports {
			if p.PublicPort != 0 {
				inst.Port = int(p.PublicPort)
				inst.Address = net.JoinHostPort(p.IP, strconv.Itoa(int(p.PublicPort)))
			}
		}
		out = append(out, inst)
	}
	return out, nil
}
