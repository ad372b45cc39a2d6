package sim

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckpointContainer writes the archive at req.location, laid out as the runtime writes it.
func (s *Server) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	if s.p.CheckpointNeedsSwitch && !s.p.Restore {
		// cri-o v1.34.0 server/container_checkpoint.go: refused without enable_criu_support.
		return nil, errors.New(errCheckpointUnsupported)
	}
	if req.GetLocation() == "" {
		return nil, status.Error(codes.InvalidArgument, "checkpoint location is empty")
	}
	s.mu.Lock()
	c := s.lookupLocked(req.GetContainerId())
	if c == nil {
		s.mu.Unlock()
		if s.p.Runtime == RuntimeCRIO {
			return nil, status.Errorf(codes.NotFound, "could not find container %q: container with ID starting with %s not found: ID does not exist", req.GetContainerId(), req.GetContainerId())
		}
		return nil, fmt.Errorf("an error occurred when trying to find container the container status %q: an error occurred when try to find container %q: not found", req.GetContainerId(), req.GetContainerId())
	}
	if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING || c.app == nil {
		st := c.State
		s.mu.Unlock()
		if s.p.Runtime == RuntimeCRIO {
			// cri-o v1.34.0 internal/lib/checkpoint.go.
			return nil, fmt.Errorf("container %s is not running", c.ID)
		}
		// containerd v2.1.0 internal/cri/server/container_checkpoint_linux.go.
		return nil, fmt.Errorf("container %q is in %s state. only %s containers can be checkpointed", c.ID, st, runtimeapi.ContainerState_CONTAINER_RUNNING)
	}
	lg := s.log.With("namespace", c.podNamespace(), "pod", c.podName(), "container", c.name(), "image", c.Config.GetImage().GetImage())
	s.mu.Unlock()

	// The container is frozen while CRIU dumps it: the delay fault stands for a big memory.
	if d := s.faults.delay(); d > 0 {
		wait := time.NewTimer(d)
		defer wait.Stop()
		var limit <-chan time.Time
		if t := req.GetTimeout(); t > 0 {
			lt := time.NewTimer(time.Duration(t) * time.Second)
			defer lt.Stop()
			limit = lt.C
		}
		select {
		case <-wait.C:
		case <-limit:
			return nil, status.Error(codes.DeadlineExceeded, "context deadline exceeded")
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if s.faults.checkpointFails() {
		lg.Warn("criu dump failed (fault)", "id", c.ID[:12])
		return nil, errors.New(checkpointFailedText(s.p, c.ID))
	}

	s.mu.Lock()
	now := time.Now()
	if c.app == nil || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %s is not running", c.ID)
	}
	state := c.app.State(now)
	var entries []tarEntry
	var err error
	if s.p.Runtime == RuntimeCRIO {
		entries, err = s.crioArchive(c, state, now)
	} else {
		entries, err = s.containerdArchive(c, state, now)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := writeArchive(req.GetLocation(), entries, now); err != nil {
		if s.p.Runtime == RuntimeCRIO {
			return nil, fmt.Errorf("failed to write file system changes of container %s: error creating checkpoint export file %q: %w", c.ID, req.GetLocation(), err)
		}
		return nil, err
	}
	lg.Info("checkpointed", "id", c.ID[:12], "location", req.GetLocation(), "counter", state.Counter)
	return &runtimeapi.CheckpointContainerResponse{}, nil
}

// CRIU image files start with the img-common magic, then the image's own magic; the payload
// here is a stand-in (pages-*.img has no header in CRIU).
var criuMagic = map[string]uint32{
	"inventory.img": 0x58313116, "pstree.img": 0x50273030, "ids-1.img": 0x54432030, "core-1.img": 0x55053847,
	"mm-1.img": 0x57492820, "fs-1.img": 0x51403912, "files.img": 0x56303138, "pagemap-1.img": 0x56084025, "stats-dump": 0x57093306,
}

func criuImage(name string, payload any) []byte {
	head := make([]byte, 8)
	binary.LittleEndian.PutUint32(head, 0x54564319)
	binary.LittleEndian.PutUint32(head[4:], criuMagic[name])
	b, _ := json.Marshal(payload)
	return append(head, b...)
}

// criuImages is the checkpoint/ folder CRIU writes; fileMode is how the runtime stores them.
func criuImages(c *Container, state AppState, fileMode int64) []tarEntry {
	pages := pagesSizeFor(state, c.MemoryBytes)
	img := func(name string, payload any) tarEntry {
		return tarEntry{name: "checkpoint/" + name, mode: fileMode, data: criuImage(name, payload)}
	}
	return []tarEntry{
		{name: "checkpoint", dir: true, mode: 0o700},
		img("inventory.img", map[string]any{"imgVersion": 2, "rootIds": map[string]int{"pid": 1}, "ns_per_id": true, "lsmtype": "NO_LSM"}),
		img("pstree.img", map[string]int{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}),
		img("ids-1.img", map[string]int{"vmId": 1, "filesId": 1, "fsId": 1}),
		img("core-1.img", map[string]any{"mtype": "X86_64", "tc": map[string]any{"taskState": 1, "exitCode": 0, "comm": c.name()}}),
		img("mm-1.img", map[string]int{"vmas": 1}),
		img("fs-1.img", map[string]int{"cwdId": 1, "rootId": 1}),
		img("files.img", map[string]int{"entries": 3}),
		img("pagemap-1.img", map[string]any{"pagesId": 1, "entries": []map[string]any{{"vaddr": "0x7f0000000000", "nrPages": pages / pageSize}}}),
		{name: "checkpoint/pages-1.img", mode: fileMode, pages: &pagesSpec{state: state, memoryBytes: c.MemoryBytes, containerID: c.ID}},
	}
}

func dumpLog(c *Container, state AppState) []byte {
	return fmt.Appendf(nil, "(00.000000) Version: 4.1 (gitid 0)\n(00.000001) Dumping task %s (counter %d)\n(00.000100) Dumping finished successfully\n", c.name(), state.Counter)
}

func statsDump(c *Container, state AppState) []byte {
	return criuImage("stats-dump", map[string]any{"dump": map[string]any{"freezingTime": 1000, "frozenTime": 2000, "memdumpTime": 500, "pagesWritten": pagesSizeFor(state, c.MemoryBytes) / pageSize}})
}

func (s *Server) readLog(c *Container) []byte {
	if c.LogPath == "" {
		return nil
	}
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return nil
	}
	return b
}

// ociMount is a runtime-spec mount.
type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// specMounts are the mounts the runtime puts in the OCI spec: its own, then the CRI mounts.
func specMounts(c *Container, sandboxDir string) []ociMount {
	ms := []ociMount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/dev/shm", Type: "bind", Source: sandboxDir + "/shm", Options: []string{"rw", "bind"}},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: sandboxDir + "/resolv.conf", Options: []string{"ro", "bind", "nodev", "nosuid", "noexec"}},
		{Destination: "/etc/hostname", Type: "bind", Source: sandboxDir + "/hostname", Options: []string{"ro", "bind", "nodev", "nosuid", "noexec"}},
	}
	for _, m := range c.Config.GetMounts() {
		if m.GetImage().GetImage() != "" {
			ms = append(ms, ociMount{Destination: m.GetContainerPath(), Type: "bind", Source: "/var/lib/containers/storage/overlay/image-volume/" + m.GetImage().GetImage(), Options: []string{"ro", "rbind"}})
			continue
		}
		opt := "rw"
		if m.GetReadonly() {
			opt = "ro"
		}
		ms = append(ms, ociMount{Destination: m.GetContainerPath(), Type: "bind", Source: m.GetHostPath(), Options: []string{opt, "rbind", "rprivate", "bind"}})
	}
	return ms
}

func specEnv(c *Container) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + c.podName()}
	for _, e := range c.Config.GetEnvs() {
		env = append(env, e.GetKey()+"="+string(e.GetValue()))
	}
	return env
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func ociSpec(c *Container, mounts []ociMount, annotations map[string]string, rootPath string) map[string]any {
	return map[string]any{
		"ociVersion":  "1.2.1",
		"process":     map[string]any{"user": map[string]int{"uid": 0, "gid": 0}, "args": c.Args, "env": specEnv(c), "cwd": "/"},
		"root":        map[string]any{"path": rootPath},
		"hostname":    c.podName(),
		"mounts":      mounts,
		"annotations": annotations,
		"linux": map[string]any{
			"namespaces":    []map[string]string{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"maskedPaths":   []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// checkpointctl lib/metadata.go ContainerConfig, the config.dump both runtimes write.
type containerConfigDump struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	RootfsImage     string    `json:"rootfsImage,omitempty"`
	RootfsImageRef  string    `json:"rootfsImageRef,omitempty"`
	RootfsImageName string    `json:"rootfsImageName,omitempty"`
	OCIRuntime      string    `json:"runtime,omitempty"`
	CreatedTime     time.Time `json:"createdTime"`
	CheckpointedAt  time.Time `json:"checkpointedTime"`
	RestoredAt      time.Time `json:"restoredTime"`
	Restored        bool      `json:"restored"`
}

// crioBindMount is cri-o v1.34.0 internal/lib/checkpoint.go ExternalBindMount.
type crioBindMount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	FileType    string `json:"file_type"`
	Permissions uint32 `json:"permissions"`
}

// crioContainerMounts are skipped in bind.mounts (cri-o v1.34.0 internal/lib/checkpoint.go containerMounts).
var crioContainerMounts = map[string]bool{"/dev": true, "/dev/shm": true, "/proc": true, "/run": true, "/run/.containerenv": true, "/run/secrets": true, "/sys": true}

// crioArchive is the layout of cri-o v1.34.0 internal/lib/checkpoint.go exportCheckpoint:
// stats-dump, dump.log, checkpoint/, config.dump, spec.dump, bind.mounts, then the rootfs diff
// files (rootfs-diff.tar, deleted.files) and the log under the name of its annotation
// (io.kubernetes.cri-o.LogPath). Uncompressed. No devshm-checkpoint.tar (that is Podman's).
func (s *Server) crioArchive(c *Container, state AppState, now time.Time) ([]tarEntry, error) {
	sb := s.sandboxes[c.SandboxID]
	mounts := specMounts(c, crioBundle(c.SandboxID))
	crioName := fmt.Sprintf("k8s_%s_%s_%s_%s_%d", c.name(), c.podName(), c.podNamespace(), c.Sandbox.GetMetadata().GetUid(), c.Config.GetMetadata().GetAttempt())
	ann := map[string]string{}
	for k, v := range c.Annotations {
		ann[k] = v
	}
	ip := ""
	if sb != nil {
		ip = sb.IP
	}
	for k, v := range map[string]string{
		"io.container.manager":                   "cri-o",
		"io.kubernetes.container.name":           c.name(),
		"io.kubernetes.pod.name":                 c.podName(),
		"io.kubernetes.pod.namespace":            c.podNamespace(),
		"io.kubernetes.pod.uid":                  c.Sandbox.GetMetadata().GetUid(),
		"io.kubernetes.cri-o.Annotations":        jsonString(c.Annotations),
		"io.kubernetes.cri-o.Labels":             jsonString(c.Labels),
		"io.kubernetes.cri-o.Metadata":           jsonString(map[string]any{"name": c.name(), "attempt": c.Config.GetMetadata().GetAttempt()}),
		"io.kubernetes.cri-o.ContainerID":        c.ID,
		"io.kubernetes.cri-o.ContainerType":      "container",
		"io.kubernetes.cri-o.Created":            c.CreatedAt.Format(time.RFC3339Nano),
		"io.kubernetes.cri-o.IP.0":               ip,
		"io.kubernetes.cri-o.Image":              c.ImageID,
		"io.kubernetes.cri-o.ImageName":          c.ImageName,
		"io.kubernetes.cri-o.ImageRef":           c.ImageID,
		"io.kubernetes.cri-o.LogPath":            c.LogPath,
		"io.kubernetes.cri-o.Name":               crioName,
		"io.kubernetes.cri-o.MountPoint":         "/var/lib/containers/storage/overlay/" + c.ID + "/merged",
		"io.kubernetes.cri-o.SandboxID":          c.SandboxID,
		"io.kubernetes.cri-o.SandboxName":        fmt.Sprintf("k8s_%s_%s_%s_%d", c.podName(), c.podNamespace(), c.Sandbox.GetMetadata().GetUid(), c.Sandbox.GetMetadata().GetAttempt()),
		"io.kubernetes.cri-o.ResolvPath":         crioBundle(c.SandboxID) + "/resolv.conf",
		"io.kubernetes.cri-o.Volumes":            jsonString(c.Config.GetMounts()),
		"io.kubernetes.cri-o.TTY":                "false",
		"io.kubernetes.cri-o.Stdin":              "false",
		"io.kubernetes.cri-o.StdinOnce":          "false",
		"io.kubernetes.cri-o.SeccompProfilePath": "",
	} {
		ann[k] = v
	}
	spec := ociSpec(c, mounts, ann, "/var/lib/containers/storage/overlay/"+c.ID+"/merged")
	cfg := containerConfigDump{
		ID: c.ID, Name: crioName, RootfsImage: c.Config.GetImage().GetImage(), RootfsImageRef: c.ImageID,
		RootfsImageName: c.ImageName, OCIRuntime: s.p.OCIRuntime, CreatedTime: c.CreatedAt,
		CheckpointedAt: now, Restored: c.restoredFrom != "",
	}
	var binds []crioBindMount
	for _, m := range mounts {
		if crioContainerMounts[m.Destination] || m.Type != "bind" {
			continue
		}
		ft, perm := "directory", uint32(0o755)
		if fi, err := os.Stat(m.Source); err == nil {
			perm = uint32(fi.Mode().Perm())
			if !fi.IsDir() {
				ft = "file"
			}
		} else if m.Destination == "/etc/resolv.conf" || m.Destination == "/etc/hostname" || m.Destination == "/etc/hosts" || m.Destination == "/dev/termination-log" {
			ft, perm = "file", 0o644
		}
		binds = append(binds, crioBindMount{Source: m.Source, Destination: m.Destination, FileType: ft, Permissions: perm})
	}
	var out []tarEntry
	out = append(out, tarEntry{name: "stats-dump", mode: 0o600, data: statsDump(c, state)})
	out = append(out, tarEntry{name: "dump.log", mode: 0o600, data: dumpLog(c, state)})
	out = append(out, criuImages(c, state, 0o600)...)
	out = append(out,
		tarEntry{name: "config.dump", mode: 0o600, data: mustJSON(cfg)},
		tarEntry{name: "spec.dump", mode: 0o600, data: mustJSON(spec)},
	)
	if len(binds) > 0 {
		out = append(out, tarEntry{name: "bind.mounts", mode: 0o600, data: mustJSON(binds)})
	}
	// The app's writable-layer changes: it writes its pid file and removes its start marker.
	out = append(out,
		tarEntry{name: "rootfs-diff.tar", mode: 0o644, data: smallTar(map[string]string{"tmp/kcr-sim/app.pid": "1\n"}, now)},
		tarEntry{name: "deleted.files", mode: 0o600, data: mustJSON([]string{"/tmp/kcr-sim/starting"})},
	)
	if c.LogPath != "" {
		if log := s.readLog(c); log != nil {
			out = append(out, tarEntry{name: "io.kubernetes.cri-o.LogPath", mode: 0o644, data: log})
		}
	}
	return out, nil
}

// containerdStatusFile is containerd's internal container status ("status", read by checkpointctl).
type containerdStatusFile struct {
	Version string `json:"Version"`
	Status  struct {
		Pid        uint32
		CreatedAt  int64
		StartedAt  int64
		FinishedAt int64
		ExitCode   int32
		Reason     string
		Message    string
		Starting   bool
		Removing   bool
		Unknown    bool
	} `json:"Status"`
}

// containerdArchive is the layout of containerd v2.1.0
// internal/cri/server/container_checkpoint_linux.go CheckpointContainer: the ctrd-checkpoint
// folder (status, stats-dump, dump.log, container.log, config.dump, status.dump, checkpoint/,
// rootfs-diff.tar, spec.dump) written by archive.Diff, which walks it in name order.
func (s *Server) containerdArchive(c *Container, state AppState, now time.Time) ([]tarEntry, error) {
	st := s.containerStatusLocked(c)
	statusDump, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal container status: %w", err)
	}
	name := fmt.Sprintf("%s_%s_%s_%s_%d", c.name(), c.podName(), c.podNamespace(), c.Sandbox.GetMetadata().GetUid(), c.Config.GetMetadata().GetAttempt())
	cfg := containerConfigDump{
		ID: c.ID, Name: name, RootfsImageName: st.GetImage().GetImage(), RootfsImageRef: st.GetImageRef(),
		OCIRuntime: "io.containerd.runc.v2", RootfsImage: st.GetImage().GetImage(), CheckpointedAt: now, CreatedTime: c.CreatedAt,
	}
	ann := map[string]string{
		"io.kubernetes.cri.container-type":    "container",
		"io.kubernetes.cri.container-name":    c.name(),
		"io.kubernetes.cri.image-name":        c.ImageName,
		"io.kubernetes.cri.sandbox-id":        c.SandboxID,
		"io.kubernetes.cri.sandbox-name":      c.podName(),
		"io.kubernetes.cri.sandbox-namespace": c.podNamespace(),
		"io.kubernetes.cri.sandbox-uid":       c.Sandbox.GetMetadata().GetUid(),
	}
	sandboxDir := "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + c.SandboxID
	spec := ociSpec(c, specMounts(c, sandboxDir), ann, "rootfs")
	var sf containerdStatusFile
	sf.Version = "v1"
	sf.Status.Pid, sf.Status.CreatedAt, sf.Status.StartedAt = 4242, c.CreatedAt.UnixNano(), c.StartedAt.UnixNano()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(smallTar(map[string]string{"tmp/kcr-sim/app.pid": "1\n"}, now))
	_ = zw.Close()

	files := []tarEntry{
		{name: "status", mode: 0o600, data: mustJSON(sf)},
		{name: "stats-dump", mode: 0o600, data: statsDump(c, state)},
		{name: "dump.log", mode: 0o600, data: dumpLog(c, state)},
		{name: "config.dump", mode: 0o600, data: mustJSON(cfg)},
		{name: "status.dump", mode: 0o600, data: statusDump},
		// writeRootFsDiffTar copies the rw layer blob as it is: gzip (MediaTypeImageLayerGzip).
		{name: "rootfs-diff.tar", mode: 0o644, data: gz.Bytes()},
		{name: "spec.dump", mode: 0o644, data: mustJSON(spec)},
	}
	if log := s.readLog(c); log != nil {
		files = append(files, tarEntry{name: "container.log", mode: 0o600, data: log})
	}
	// writeCriuCheckpointData creates the image files with os.Create (0644 under umask 022).
	files = append(files, criuImages(c, state, 0o644)...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
