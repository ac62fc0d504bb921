package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
)

// testImage is the repository the Docker tests build and remove.
const testImage = "skjold-test-app"

// buildImages builds testImage:VERSION for each version from the test app
// binary (VERSION-MODE sets its MODE too), FROM scratch (there is no registry to pull from), and removes
// them when the test ends.
func buildImages(t *testing.T, d *Docker, versions ...string) {
	t.Helper()
	cli, err := d.Client()
	if err != nil {
		requireServices(t, "the Docker engine", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		requireServices(t, "the Docker engine", err)
	}
	bin, err := os.ReadFile(testApp(t))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY app /app\nARG VERSION\nENV VERSION=$VERSION\nARG MODE\nENV MODE=$MODE\nENTRYPOINT [\"/app\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"app", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		ref := testImage + ":" + v
		// A version named v-MODE runs the app in that MODE (v2-failing).
		mode := ""
		if _, m, ok := strings.Cut(v, "-"); ok {
			mode = m
		}
		resp, err := cli.ImageBuild(ctx, bytes.NewReader(buf.Bytes()), build.ImageBuildOptions{
			Tags: []string{ref}, BuildArgs: map[string]*string{"VERSION": &v, "MODE": &mode}, Remove: true, ForceRemove: true,
			Version: build.BuilderV1,
		})
		if err != nil {
			t.Fatalf("building %s: %v", ref, err)
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || bytes.Contains(out, []byte(`"error"`)) {
			t.Fatalf("building %s: %v\n%s", ref, err, out)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				t.Errorf("removing image %s: %v", ref, err)
			}
		})
	}
}

func TestDockerDeployUnderLoadFailsNoRequest(t *testing.T) {
	dk := NewDocker()
	t.Cleanup(func() { dk.Close() })
	buildImages(t, dk, "v1", "v2")
	env := startEnv(t, "")
	// Both drivers, as the CLI has them: the process driver's search for
	// leftovers sees the containers' processes in /proc and must leave
	// them alone.
	d, ev := env.deployer(t, map[string]Driver{DriverDocker: dk, DriverProcess: NewProcess()})
	stopAll(t, d)
	deployUnderLoad(t, env, d, ev,
		Request{Image: testImage + ":v1"},
		Request{Image: testImage + ":v2"})

	// Every container carried the labels, and only the live one is left.
	left, err := dk.Leftovers(context.Background(), "app", d.owner)
	if err != nil {
		t.Fatal(err)
	}
	if procs, err := NewProcess().Leftovers(context.Background(), "app", d.owner); err != nil || len(procs) != 0 {
		t.Errorf("the process driver claims the container's processes: %+v, %v", procs, err)
	}
	st, _ := d.store.Load()
	if exited, how, err := dk.Exited(context.Background(), st.Current.Instance); exited || err != nil {
		t.Errorf("the live container is not running: %s %v", how, err)
	}
	if len(left) != 1 || left[0].ContainerID != st.Current.Instance.ContainerID {
		t.Errorf("labelled containers %+v; want only the current one %s", left, st.Current.Instance.ContainerID)
	}
	if st.Current.Version != "v2" || !strings.HasPrefix(st.Current.Instance.ContainerName, "skjold-app-") {
		t.Errorf("current release %+v", st.Current)
	}
	logs, err := dk.Logs(context.Background(), st.Current.Instance, 5)
	if err != nil || !strings.Contains(strings.Join(logs, "\n"), "app v2 listening") {
		t.Errorf("container logs %q, %v", logs, err)
	}
}
