package sim

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// checkpointed runs the base image in pod "orig" for a little over a second and checkpoints
// it; it returns the archive and the pulled base reference.
func checkpointed(t *testing.T, n *node, base string, extra ...*runtimeapi.Mount) (archive string, id string) {
	t.Helper()
	ref := n.mustPull(base)
	p := n.runPod("orig", nil)
	id = n.run(p, p.containerConfig("app", ref, base, extra...))
	time.Sleep(1100 * time.Millisecond)
	loc, err := n.checkpoint(id)
	if err != nil {
		t.Fatalf("CheckpointContainer: %v", err)
	}
	return loc, id
}

type entryInfo struct {
	mode int64
	dir  bool
	data []byte
}

func readTar(t *testing.T, path string) (map[string]entryInfo, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]entryInfo{}
	var order []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		b, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
		out[name] = entryInfo{mode: h.Mode & 0o7777, dir: h.Typeflag == tar.TypeDir, data: b}
		order = append(order, name)
	}
	return out, order
}

func restoredLine(t *testing.T, lines []string, image string) int64 {
	t.Helper()
	for _, l := range lines {
		var n int64
		if _, err := fmt.Sscanf(l, "kcr-sim app restored from "+image+" at counter=%d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no restored line for %s in %q", image, lines)
	return 0
}

func TestCRIORestoreRoundTrip(t *testing.T) {
	t.Parallel()
	open, _ := registries(t)
	n := startNode(t, "cri-o-1.34", open.host)
	base := open.pushBase(t, "crio/base")
	dataDir := t.TempDir()
	data := &runtimeapi.Mount{ContainerPath: "/data", HostPath: dataDir}
	loc, origID := checkpointed(t, n, base, data)

	// Archive layout as CRI-O writes it.
	fi, err := os.Stat(loc)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode: %v %v", fi.Mode(), err)
	}
	entries, order := readTar(t, loc)
	for _, name := range []string{"stats-dump", "dump.log", "checkpoint", "checkpoint/inventory.img", "checkpoint/pages-1.img",
		"config.dump", "spec.dump", "bind.mounts", "rootfs-diff.tar", "deleted.files", "io.kubernetes.cri-o.LogPath"} {
		if _, ok := entries[name]; !ok {
			t.Errorf("archive lacks %s (has %v)", name, order)
		}
	}
	for _, absent := range []string{"status.dump", "container.log"} {
		if _, ok := entries[absent]; ok {
			t.Errorf("CRI-O archive has containerd's %s", absent)
		}
	}
	if e := entries["checkpoint"]; !e.dir || e.mode != 0o700 {
		t.Errorf("checkpoint/ %+v", e)
	}
	for _, name := range []string{"config.dump", "spec.dump", "checkpoint/pages-1.img"} {
		if entries[name].mode != 0o600 {
			t.Errorf("%s mode %o", name, entries[name].mode)
		}
	}
	st, err := DecodePagesHeader(entries["checkpoint/pages-1.img"].data)
	if err != nil || st.Counter < 1 || st.RestoredFrom != "" {
		t.Fatalf("pages-1.img state %+v %v", st, err)
	}
	if len(entries["checkpoint/pages-1.img"].data) != 256*1024 {
		t.Errorf("pages-1.img is %d bytes, want the default 256 KiB", len(entries["checkpoint/pages-1.img"].data))
	}
	var cfg containerConfigDump
	_ = json.Unmarshal(entries["config.dump"].data, &cfg)
	if cfg.RootfsImageName != base || !hexIDRe.MatchString(cfg.RootfsImageRef) || cfg.ID != origID {
		t.Errorf("config.dump %+v", cfg)
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	_ = json.Unmarshal(entries["spec.dump"].data, &spec)
	for k, want := range map[string]string{"io.kubernetes.pod.name": "orig", "io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.uid": "uid-orig", "io.kubernetes.container.name": "app"} {
		if spec.Annotations[k] != want {
			t.Errorf("spec.dump %s = %q", k, spec.Annotations[k])
		}
	}
	if !strings.Contains(spec.Annotations["io.kubernetes.cri-o.Annotations"], "io.kubernetes.container.hash") {
		t.Errorf("io.kubernetes.cri-o.Annotations = %s", spec.Annotations["io.kubernetes.cri-o.Annotations"])
	}
	if !strings.Contains(string(entries["bind.mounts"].data), `"destination":"/data"`) {
		t.Errorf("bind.mounts = %s", entries["bind.mounts"].data)
	}

	ck := open.pushCheckpoint(t, "crio/ckpt", "1", loc, "app")
	ckRef := n.mustPull(ck)

	// Restore into another pod: the counter continues, the status shows the base image.
	p2 := n.runPod("copy", nil)
	id := n.run(p2, p2.containerConfig("app", ckRef, ck, data))
	s := n.status(id)
	if s.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || s.GetImage().GetImage() != base || !strings.HasPrefix(s.GetImageRef(), open.host+"/crio/base@sha256:") {
		t.Errorf("restored status: state %v image %q ref %q", s.GetState(), s.GetImage().GetImage(), s.GetImageRef())
	}
	if s.GetLabels()["io.kubernetes.pod.uid"] != "uid-copy" {
		t.Errorf("labels %v", s.GetLabels())
	}
	lines := logLines(t, s.GetLogPath())
	if got := restoredLine(t, lines, ck); got != st.Counter {
		t.Errorf("restored at %d, checkpoint had %d", got, st.Counter)
	}
	if lines[0] != "kcr-sim app started fresh" {
		t.Errorf("CRI-O copies the archive's log first; got %q", lines[0])
	}
	if lines[len(lines)-1] != fmt.Sprintf("counter=%d", st.Counter) {
		t.Errorf("last line %q", lines[len(lines)-1])
	}

	// A checkpoint of the restored container names the original base image.
	loc2, err := n.checkpoint(id)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := readTar(t, loc2)
	var cfg2 containerConfigDump
	_ = json.Unmarshal(e2["config.dump"].data, &cfg2)
	st2, _ := DecodePagesHeader(e2["checkpoint/pages-1.img"].data)
	if cfg2.RootfsImageName != base || !cfg2.Restored || st2.RestoredFrom != ck {
		t.Errorf("second checkpoint: config %+v state %+v", cfg2, st2)
	}

	// Every CreateContainer of the checkpoint image restores it again.
	if _, err := n.rt.StopContainer(n.ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	if s := n.status(id); s.GetExitCode() != 0 || s.GetReason() != "Completed" {
		t.Errorf("graceful stop: %d %s", s.GetExitCode(), s.GetReason())
	}
	cfg3 := p2.containerConfig("app", ckRef, ck, data)
	cfg3.Metadata.Attempt = 1
	cfg3.LogPath = "app/1.log"
	id3 := n.run(p2, cfg3)
	if got := restoredLine(t, logLines(t, n.status(id3).GetLogPath()), ck); got != st.Counter {
		t.Errorf("re-restore at %d, want %d", got, st.Counter)
	}

	// CRI-O >= 1.32: every mount of the original must be declared again.
	p4 := n.runPod("nomount", nil)
	_, err = n.create(p4, p4.containerConfig("app", ckRef, ck))
	wantErr(t, err, fmt.Sprintf("restoring %q expects following bind mounts defined (/data)", ckRef))

	// The base image is only looked up on the node, never pulled.
	if _, err := n.srv.Images().Remove(base); err != nil {
		t.Fatal(err)
	}
	_, err = n.create(p4, p4.containerConfig("app", ckRef, ck, data))
	wantErr(t, err, fmt.Sprintf("reading image %q: image not known", cfg.RootfsImageRef))
}

func TestContainerdRestore(t *testing.T) {
	t.Parallel()
	open, auth := registries(t)
	n := startNode(t, "containerd-2.1", open.host, auth.host)
	base := open.pushBase(t, "ctrd/base")
	loc, _ := checkpointed(t, n, base)

	entries, order := readTar(t, loc)
	for _, name := range []string{"checkpoint", "checkpoint/pages-1.img", "config.dump", "container.log", "dump.log", "rootfs-diff.tar", "spec.dump", "stats-dump", "status", "status.dump"} {
		if _, ok := entries[name]; !ok {
			t.Errorf("archive lacks %s (has %v)", name, order)
		}
	}
	if _, ok := entries["bind.mounts"]; ok {
		t.Error("containerd archive has CRI-O's bind.mounts")
	}
	if entries["checkpoint"].mode != 0o700 || entries["status.dump"].mode != 0o600 {
		t.Errorf("modes: checkpoint %o status.dump %o", entries["checkpoint"].mode, entries["status.dump"].mode)
	}
	var cfg containerConfigDump
	_ = json.Unmarshal(entries["config.dump"].data, &cfg)
	if cfg.RootfsImageName != base || !strings.HasPrefix(cfg.RootfsImageRef, open.host+"/ctrd/base@sha256:") {
		t.Errorf("config.dump %+v", cfg)
	}
	st, _ := DecodePagesHeader(entries["checkpoint/pages-1.img"].data)

	ck := open.pushCheckpoint(t, "ctrd/ckpt", "1", loc, "app")
	ckRef := n.mustPull(ck)
	if !strings.HasPrefix(ckRef, "sha256:") {
		t.Errorf("containerd PullImage ref %q is not the image ID", ckRef)
	}
	// 2.1 pulls the base again anyway (anonymously): gone from the node, the restore works.
	if _, err := n.srv.Images().Remove(base); err != nil {
		t.Fatal(err)
	}
	p2 := n.runPod("copy", nil)
	id := n.run(p2, p2.containerConfig("app", ckRef, ck))
	if got := restoredLine(t, logLines(t, n.status(id).GetLogPath()), ck); got != st.Counter {
		t.Errorf("restored at %d, want %d", got, st.Counter)
	}
	s := n.status(id)
	if s.GetAnnotations()["restored"] != "true" || s.GetAnnotations()["checkpointImage"] != ck || s.GetImage().GetImage() != base {
		t.Errorf("restored status: image %q annotations %v", s.GetImage().GetImage(), s.GetAnnotations())
	}

	// A private base image: on the node (pulled with credentials), yet 2.1 pulls it anonymously.
	priv := auth.pushBase(t, "ctrd/private")
	if _, err := n.pull(priv, &runtimeapi.AuthConfig{Username: auth.user, Password: auth.pass}); err != nil {
		t.Fatal(err)
	}
	pp := n.runPod("priv", nil)
	pid := n.run(pp, pp.containerConfig("app", priv, priv))
	time.Sleep(1100 * time.Millisecond)
	ploc, err := n.checkpoint(pid)
	if err != nil {
		t.Fatal(err)
	}
	pck := open.pushCheckpoint(t, "ctrd/ckpt", "private", ploc, "app")
	pckRef := n.mustPull(pck)
	p3 := n.runPod("copy-priv", nil)
	_, err = n.create(p3, p3.containerConfig("app", pckRef, pck))
	wantErr(t, err, "failed to pull checkpoint base image "+auth.host+"/ctrd/private@sha256:")
	wantErr(t, err, ": 401 Unauthorized")

	// containerd 2.3.4 with the switch on uses the local copy first: the same restore works.
	n2 := startNode(t, "containerd-2.3.4:restore=on", open.host, auth.host)
	if _, err := n2.pull(priv, &runtimeapi.AuthConfig{Username: auth.user, Password: auth.pass}); err != nil {
		t.Fatal(err)
	}
	ref2 := n2.mustPull(pck)
	q := n2.runPod("copy-priv", nil)
	qid := n2.run(q, q.containerConfig("app", ref2, pck))
	restoredLine(t, logLines(t, n2.status(qid).GetLogPath()), pck)

	// Default 2.3.4: detected, then refused at CreateContainer.
	n3 := startNode(t, "containerd-2.3.4", open.host)
	ref3 := n3.mustPull(ck)
	r := n3.runPod("off", nil)
	_, err = n3.create(r, r.containerConfig("app", ref3, ck))
	wantErr(t, err, "checkpoint restore via CreateContainer is disabled by configuration")

	// 2.4: an ordinary image without a command; with one, runc fails at StartContainer.
	n4 := startNode(t, "containerd-2.4", open.host)
	ref4 := n4.mustPull(ck)
	r4 := n4.runPod("gone", nil)
	_, err = n4.create(r4, r4.containerConfig("app", ref4, ck))
	wantErr(t, err, "no command specified")
	cfg4 := r4.containerConfig("app", ref4, ck)
	cfg4.Command = []string{"/app"}
	id4, err := n4.create(r4, cfg4)
	if err != nil {
		t.Fatalf("CreateContainer on 2.4 with a command: %v", err)
	}
	err = n4.start(id4)
	wantErr(t, err, `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: "/app": stat /app: no such file or directory: unknown`)
	if s := n4.status(id4); s.GetExitCode() != 128 || s.GetReason() != "StartError" {
		t.Errorf("start failure status %d %s", s.GetExitCode(), s.GetReason())
	}
}

func TestRestoreSwitchedOffAndCrossRuntime(t *testing.T) {
	t.Parallel()
	open, _ := registries(t)
	crio := startNode(t, "cri-o-1.34", open.host)
	ctrd := startNode(t, "containerd-2.1", open.host)
	crioBase := open.pushBase(t, "cross/crio-base")
	ctrdBase := open.pushBase(t, "cross/ctrd-base")
	crioLoc, _ := checkpointed(t, crio, crioBase)
	ctrdLoc, _ := checkpointed(t, ctrd, ctrdBase)
	crioCk := open.pushCheckpoint(t, "cross/ckpt", "crio", crioLoc, "app")
	ctrdCk := open.pushCheckpoint(t, "cross/ckpt", "ctrd", ctrdLoc, "app")

	// containerd's archive on CRI-O: no io.kubernetes.cri-o.Annotations in spec.dump.
	ref := crio.mustPull(ctrdCk)
	crio.mustPull(ctrdBase)
	p := crio.runPod("x", nil)
	_, err := crio.create(p, p.containerConfig("app", ref, ctrdCk))
	wantErr(t, err, `failed to read "io.kubernetes.cri-o.Annotations": unexpected end of JSON input`)

	// CRI-O's archive on containerd: no status.dump.
	ref = ctrd.mustPull(crioCk)
	q := ctrd.runPod("x", nil)
	_, err = ctrd.create(q, q.containerConfig("app", ref, crioCk))
	wantErr(t, err, `failed to read "status.dump": open /tmp/checkpoint`)

	// CRI-O 1.29: enable_criu_support is off: no checkpoints, and the checkpoint image is an
	// ordinary image without a command; given one, the OCI create fails in CreateContainer.
	old := startNode(t, "cri-o-1.29", open.host)
	bref := old.mustPull(crioBase)
	r := old.runPod("y", nil)
	id := old.run(r, r.containerConfig("app", bref, crioBase))
	_, err = old.checkpoint(id)
	wantErr(t, err, "checkpoint/restore support not available")
	cref := old.mustPull(crioCk)
	_, err = old.create(r, r.containerConfig("ck", cref, crioCk))
	wantErr(t, err, "no command specified")
	cfg := r.containerConfig("ck", cref, crioCk)
	cfg.Command = []string{"/app"}
	_, err = old.create(r, cfg)
	wantErr(t, err, `container create failed: runc create failed: unable to start container process: exec: "/app": stat /app: no such file or directory`)

	// Switched on, 1.29 restores (and has no bind-mount check).
	on := startNode(t, "cri-o-1.29:restore=on", open.host)
	on.mustPull(crioBase)
	oref := on.mustPull(crioCk)
	o := on.runPod("z", nil)
	oid := on.run(o, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: oref, UserSpecifiedImage: crioCk},
		LogPath: "app/0.log", Labels: map[string]string{"io.kubernetes.pod.uid": o.uid}})
	restoredLine(t, logLines(t, on.status(oid).GetLogPath()), crioCk)
}

func TestPullCredentials(t *testing.T) {
	t.Parallel()
	open, auth := registries(t)
	priv := auth.pushBase(t, "creds/app")
	for _, profile := range []string{"cri-o-1.34", "containerd-2.1"} {
		n := startNode(t, profile, open.host, auth.host)
		crio := profile == "cri-o-1.34"
		if _, err := n.pull(priv, &runtimeapi.AuthConfig{Username: auth.user, Password: auth.pass}); err != nil {
			t.Fatalf("%s right credentials: %v", profile, err)
		}
		for _, a := range []*runtimeapi.AuthConfig{nil, {Username: auth.user, Password: "wrong"}} {
			_, err := n.pull(auth.host+"/creds/app:1", a)
			if crio {
				wantErr(t, err, fmt.Sprintf("initializing source docker://%s: reading manifest 1 in %s/creds/app: authentication required", priv, auth.host))
			} else {
				wantErr(t, err, fmt.Sprintf(`failed to pull and unpack image %q: failed to resolve reference %q: unexpected status from HEAD request to http://%s/v2/creds/app/manifests/1: 401 Unauthorized`, priv, priv, auth.host))
			}
		}
		// The auth field (base64 user:pass) as the kubelet may pass it.
		if _, err := n.pull(priv, &runtimeapi.AuthConfig{Auth: "a2NyOnMzY3JldA=="}); err != nil {
			t.Errorf("%s auth field: %v", profile, err)
		}
		_, err := n.pull(open.host+"/creds/nope:1", nil)
		if crio {
			wantErr(t, err, "reading manifest 1 in "+open.host+"/creds/nope: ")
		} else {
			wantErr(t, err, open.host+"/creds/nope:1: not found")
		}
		// Registries off this machine are pulled synthetically, with an ID and a size.
		ref, err := n.pull("docker.io/library/busybox:1.37", nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := n.img.ImageStatus(n.ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err != nil || st.GetImage().GetId() == "" || st.GetImage().GetSize() == 0 {
			t.Errorf("%s ImageStatus(%s) = %v, %v", profile, ref, st, err)
		}
		st, _ = n.img.ImageStatus(n.ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "busybox:1.37"}})
		if st.GetImage() == nil {
			t.Errorf("%s ImageStatus by short name", profile)
		}
		fs, err := n.img.ImageFsInfo(n.ctx, &runtimeapi.ImageFsInfoRequest{})
		if err != nil || fs.GetImageFilesystems()[0].GetFsId().GetMountpoint() == "" {
			t.Errorf("ImageFsInfo %v %v", fs, err)
		}
		// An image volume that is not on the node.
		p := n.runPod("vol", nil)
		cfg := p.containerConfig("app", ref, "docker.io/library/busybox:1.37", &runtimeapi.Mount{ContainerPath: "/vol", Image: &runtimeapi.ImageSpec{Image: open.host + "/creds/missing:1"}, Readonly: true})
		_, err = n.create(p, cfg)
		if crio {
			wantErr(t, err, fmt.Sprintf("ImageVolumeMountFailed: image %q does not exist locally", open.host+"/creds/missing:1"))
		} else {
			wantErr(t, err, fmt.Sprintf("failed to mount image volume: failed to resolve image %q: not found", open.host+"/creds/missing:1"))
		}
	}
}

func TestVersionAndLists(t *testing.T) {
	t.Parallel()
	n := startNode(t, "containerd-2.1")
	v, err := n.rt.Version(n.ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.GetRuntimeName() != "containerd" || v.GetRuntimeVersion() != "v2.1.0" || v.GetRuntimeApiVersion() != "v1" {
		t.Fatalf("Version %v %v", v, err)
	}
	st, err := n.rt.Status(n.ctx, &runtimeapi.StatusRequest{})
	if err != nil || len(st.GetStatus().GetConditions()) != 2 || !st.GetStatus().GetConditions()[1].GetStatus() {
		t.Fatalf("Status %v %v", st, err)
	}
	ref := n.mustPull("registry.example/web:1")
	p := n.runPod("web-0", nil)
	id := n.run(p, p.containerConfig("web", ref, "registry.example/web:1"))
	sb, _ := n.rt.PodSandboxStatus(n.ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id})
	if ip := sb.GetStatus().GetNetwork().GetIp(); !strings.HasPrefix(ip, "10.244.3.") {
		t.Errorf("pod IP %q", ip)
	}
	list, _ := n.rt.ListContainers(n.ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": p.uid}}})
	if len(list.GetContainers()) != 1 || list.GetContainers()[0].GetId() != id {
		t.Errorf("ListContainers by pod uid: %v", list)
	}
	none, _ := n.rt.ListContainers(n.ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": "other"}}})
	if len(none.GetContainers()) != 0 {
		t.Error("label filter ignored")
	}
	stats, err := n.rt.ListContainerStats(n.ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil || len(stats.GetStats()) != 1 {
		t.Errorf("ListContainerStats %v %v", stats, err)
	}
	if _, err := n.rt.ListPodSandboxStats(n.ctx, &runtimeapi.ListPodSandboxStatsRequest{}); err != nil {
		t.Error(err)
	}
	lines := logLines(t, n.status(id).GetLogPath())
	if lines[0] != "kcr-sim app started fresh" || lines[1] != "counter=0" {
		t.Errorf("log %q", lines)
	}
	if _, err := n.rt.StopPodSandbox(n.ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.rt.RemovePodSandbox(n.ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id}); err != nil {
		t.Fatal(err)
	}
	_, err = n.rt.ContainerStatus(n.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if status.Code(err) != codes.NotFound {
		t.Errorf("status after remove: %v", err)
	}
}
