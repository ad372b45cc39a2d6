package sim

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A real registry (Debian's docker-registry) for the CRI-level tests: one open, one behind
// htpasswd Basic auth. Started once for the package, on free loopback ports.

type registry struct {
	host       string // 127.0.0.1:port
	user, pass string // empty for the open one
}

var (
	regOnce          sync.Once
	openReg, authReg *registry
	regErr           error
	regCleanup       []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range regCleanup {
		f()
	}
	os.Exit(code)
}

func registryBinary() string {
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/docker-registry"); err == nil {
		return "/usr/bin/docker-registry"
	}
	return ""
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startRegistry(bin, dir string, withAuth bool) (*registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &registry{host: fmt.Sprintf("127.0.0.1:%d", port)}
	auth := ""
	if withAuth {
		r.user, r.pass = "kcr", "s3cret"
		hash, err := bcrypt.GenerateFromPassword([]byte(r.pass), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.user+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: kcr-test\n    path: %s\n", htpasswd)
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n%s",
		filepath.Join(dir, "data"), r.host, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	regCleanup = append(regCleanup, func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); _ = os.RemoveAll(dir) })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("docker-registry on %s did not come up", r.host)
}

// registries starts both registries once; it skips the test when docker-registry is absent.
func registries(t *testing.T) (*registry, *registry) {
	t.Helper()
	bin := registryBinary()
	if bin == "" {
		t.Skip("docker-registry not found (apt-get install -y docker-registry; test/scripts/system-deps.sh installs it)")
	}
	regOnce.Do(func() {
		base, err := os.MkdirTemp("", "kcr-cri-sim-reg-")
		if err != nil {
			regErr = err
			return
		}
		if openReg, regErr = startRegistry(bin, filepath.Join(base, "open"), false); regErr != nil {
			return
		}
		authReg, regErr = startRegistry(bin, filepath.Join(base, "auth"), true)
	})
	if regErr != nil {
		t.Fatalf("starting docker-registry: %v", regErr)
	}
	return openReg, authReg
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func (r *registry) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp
}

// pushBlob uploads one blob (monolithic POST then PUT).
func (r *registry) pushBlob(t *testing.T, repo string, data []byte) string {
	t.Helper()
	d := digestOf(data)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", r.host, repo), nil)
	resp := r.do(t, req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + r.host + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ = http.NewRequest(http.MethodPut, loc+sep+"digest="+d, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp = r.do(t, req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put blob: %s", resp.Status)
	}
	return d
}

// pushImage pushes a one-config, n-layer OCI image under repo:tag; it returns the manifest digest.
func (r *registry) pushImage(t *testing.T, repo, tag string, cfg ImageConfig, layers [][]byte, annotations map[string]string) string {
	t.Helper()
	var diffIDs []string
	var descs []map[string]any
	for _, l := range layers {
		d := r.pushBlob(t, repo, l)
		diffIDs = append(diffIDs, d)
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(l)})
	}
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": cfg, "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd := r.pushBlob(t, repo, config)
	m := map[string]any{
		"schemaVersion": 2, "mediaType": mediaOCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers": descs,
	}
	if annotations != nil {
		m["annotations"] = annotations
	}
	body, _ := json.Marshal(m)
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.host, repo, tag), bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaOCIManifest)
	resp := r.do(t, req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %s", resp.Status)
	}
	return digestOf(body)
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(content))
	}
	_ = tw.Close()
	return b.Bytes()
}

// pushBase pushes a small ordinary image whose command is /app.
func (r *registry) pushBase(t *testing.T, repo string) string {
	t.Helper()
	r.pushImage(t, repo, "1", ImageConfig{Entrypoint: []string{"/app"}}, [][]byte{tarOf(t, map[string]string{"app": "#!/bin/sh\n# " + repo + "\n"})}, nil)
	return r.host + "/" + repo + ":1"
}

// pushCheckpoint pushes an archive as a checkpoint image, annotated for both runtimes.
func (r *registry) pushCheckpoint(t *testing.T, repo, tag, archive, container string) string {
	t.Helper()
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	r.pushImage(t, repo, tag, ImageConfig{}, [][]byte{data}, map[string]string{
		AnnotationCRIOCheckpoint: container, AnnotationCRIUCheckpoint: container,
	})
	return r.host + "/" + repo + ":" + tag
}

// node is one simulator served in-process on a temp socket, and a CRI client to it.
type node struct {
	t   *testing.T
	srv *Server
	rt  runtimeapi.RuntimeServiceClient
	img runtimeapi.ImageServiceClient
	dir string
	ctx context.Context
}

func startNode(t *testing.T, profile string, insecureRegs ...string) *node {
	t.Helper()
	p := mustProfile(t, profile)
	dir := t.TempDir()
	srv, err := NewServer(Config{Node: "kcr-node-3", NodeIndex: -1, Profile: p, StateDir: filepath.Join(dir, "state"),
		InsecureRegistries: insecureRegs, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "cri.sock")
	g, ln, err := srv.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Shutdown(); g.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &node{t: t, srv: srv, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn), dir: dir, ctx: ctx}
}

// pod is a sandbox the test made, with what CreateContainer needs.
type pod struct {
	id, name, ns, uid, logDir, hostsFile string
	cfg                                  *runtimeapi.PodSandboxConfig
}

func (n *node) runPod(name string, annotations map[string]string) *pod {
	n.t.Helper()
	p := &pod{name: name, ns: "default", uid: "uid-" + name, logDir: filepath.Join(n.dir, "logs", name)}
	p.hostsFile = filepath.Join(n.dir, "pods", name, "etc-hosts")
	if err := writeFileMkdir(p.hostsFile, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		n.t.Fatal(err)
	}
	p.cfg = &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: p.ns, Uid: p.uid},
		LogDirectory: p.logDir, Annotations: annotations,
		Labels: map[string]string{"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": p.ns, "io.kubernetes.pod.uid": p.uid},
	}
	resp, err := n.rt.RunPodSandbox(n.ctx, &runtimeapi.RunPodSandboxRequest{Config: p.cfg})
	if err != nil {
		n.t.Fatal(err)
	}
	p.id = resp.GetPodSandboxId()
	return p
}

func (n *node) pull(image string, auth *runtimeapi.AuthConfig) (string, error) {
	resp, err := n.img.PullImage(n.ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}, Auth: auth})
	return resp.GetImageRef(), err
}

func (n *node) mustPull(image string) string {
	n.t.Helper()
	ref, err := n.pull(image, nil)
	if err != nil {
		n.t.Fatalf("pull %s: %v", image, err)
	}
	return ref
}

// containerConfig is what the kubelet sends: image ref plus the pod's spelling, the kubelet's
// mounts (etc-hosts), labels and annotations.
func (p *pod) containerConfig(name, imageRef, given string, extra ...*runtimeapi.Mount) *runtimeapi.ContainerConfig {
	mounts := append([]*runtimeapi.Mount{{ContainerPath: "/etc/hosts", HostPath: p.hostsFile}}, extra...)
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: given},
		LogPath:  name + "/0.log",
		Mounts:   mounts,
		Labels: map[string]string{"io.kubernetes.container.name": name, "io.kubernetes.pod.name": p.name,
			"io.kubernetes.pod.namespace": p.ns, "io.kubernetes.pod.uid": p.uid},
		Annotations: map[string]string{"io.kubernetes.container.hash": "abc123", "io.kubernetes.container.restartCount": "0"},
	}
}

func (n *node) create(p *pod, cfg *runtimeapi.ContainerConfig) (string, error) {
	resp, err := n.rt.CreateContainer(n.ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.cfg})
	return resp.GetContainerId(), err
}

func (n *node) start(id string) error {
	_, err := n.rt.StartContainer(n.ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
	return err
}

// run creates and starts; it fails the test on an error.
func (n *node) run(p *pod, cfg *runtimeapi.ContainerConfig) string {
	n.t.Helper()
	id, err := n.create(p, cfg)
	if err != nil {
		n.t.Fatalf("CreateContainer: %v", err)
	}
	if err := n.start(id); err != nil {
		n.t.Fatalf("StartContainer: %v", err)
	}
	return id
}

func (n *node) status(id string) *runtimeapi.ContainerStatus {
	n.t.Helper()
	resp, err := n.rt.ContainerStatus(n.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		n.t.Fatalf("ContainerStatus: %v", err)
	}
	return resp.GetStatus()
}

func (n *node) checkpoint(id string) (string, error) {
	loc := filepath.Join(n.dir, "checkpoints", fmt.Sprintf("checkpoint-%s.tar", id[:12]))
	_ = os.MkdirAll(filepath.Dir(loc), 0o700)
	_, err := n.rt.CheckpointContainer(n.ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: loc})
	return loc, err
}

// logLines are the texts of the container's CRI log lines.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading log: %v", err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		parts := strings.SplitN(l, " ", 4)
		if len(parts) != 4 || parts[1] != "stdout" || parts[2] != "F" {
			t.Fatalf("not a CRI log line: %q", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, parts[0]); err != nil {
			t.Fatalf("bad time in %q", l)
		}
		out = append(out, parts[3])
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q\n does not contain %q", err.Error(), substr)
	}
}
