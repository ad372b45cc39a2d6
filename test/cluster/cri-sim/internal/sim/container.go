package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Container is one container and its app.
type Container struct {
	ID        string
	SandboxID string
	Config    *runtimeapi.ContainerConfig
	Sandbox   *runtimeapi.PodSandboxConfig
	// What ContainerStatus reports: labels and annotations (a restored container reports the
	// original's, adjusted as each runtime does) and the image triple.
	Labels, Annotations map[string]string
	ImageName           string // status.image.image
	ImageRef            string // status.image_ref (the Node's imageID)
	ImageID             string // status.image_id
	ImageUserSpecified  string // status.image.user_specified_image
	LogPath             string
	Args                []string
	MemoryBytes         int64

	State      runtimeapi.ContainerState
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	Reason     string
	Message    string

	// startError is a failure the OCI runtime will hit at StartContainer (containerd makes
	// the task there).
	startError string
	restore    *restorePlan
	app        *app
	// restoredFrom is the checkpoint image of the current run, for the debug listing.
	restoredFrom string
	lastCounter  int64
}

// restorePlan is a checkpoint prepared by CreateContainer for StartContainer.
type restorePlan struct {
	Image     string // the checkpoint image as the container config gives it
	ImageID   string // the checkpoint image's ID
	State     AppState
	LogBytes  []byte // CRI-O copies the archive's log over the new one at restore
	Archive   *Archive
	BaseImage *StoredImage
}

func (c *Container) podName() string      { return c.Sandbox.GetMetadata().GetName() }
func (c *Container) podNamespace() string { return c.Sandbox.GetMetadata().GetNamespace() }
func (c *Container) name() string         { return c.Config.GetMetadata().GetName() }

// givenImage is the image "as given in the container config": the pod's own spelling.
func givenImage(cfg *runtimeapi.ContainerConfig) string {
	if u := cfg.GetImage().GetUserSpecifiedImage(); u != "" {
		return u
	}
	return cfg.GetImage().GetImage()
}

// memoryBytes: pod annotation sim.kcr.io/memory-bytes.<container>, then sim.kcr.io/memory-bytes.
func (s *Server) memoryBytes(sb *runtimeapi.PodSandboxConfig, container string) int64 {
	ann := sb.GetAnnotations()
	for _, k := range []string{"sim.kcr.io/memory-bytes." + container, "sim.kcr.io/memory-bytes"} {
		if v, ok := ann[k]; ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return s.cfg.DefaultMemoryBytes
}

// processArgs merges the image's entrypoint/cmd with the container's command/args as both
// runtimes do (cri-o v1.34.0 internal/factory/container/container.go SpecSetProcessArgs,
// containerd v2.1.0 internal/cri/opts/spec_opts.go WithProcessArgs).
func processArgs(cfg *runtimeapi.ContainerConfig, img ImageConfig) ([]string, error) {
	command, args := cfg.GetCommand(), cfg.GetArgs()
	if len(command) == 0 {
		if len(args) == 0 {
			args = img.Cmd
		}
		if command == nil {
			command = img.Entrypoint
		}
	}
	all := append(append([]string{}, command...), args...)
	if len(all) == 0 {
		return nil, errors.New(errNoCommand)
	}
	return all, nil
}

// imageNotFound words CreateContainer's failure for an image that is not on the node.
func (s *Server) imageNotFound(ref string) error {
	if s.p.Runtime == RuntimeCRIO {
		if hexIDRe.MatchString(strings.TrimPrefix(ref, "sha256:")) {
			return errors.New(baseMissingText(strings.TrimPrefix(ref, "sha256:")))
		}
		r, err := ParseImageRef(ref)
		if err == nil {
			ref = r.String()
		}
		// vendor/github.com/containers/image/v5/storage/storage_reference.go resolveImage.
		return fmt.Errorf("reference %q does not resolve to an image ID", "[overlay@/var/lib/containers/storage+/run/containers/storage]"+ref)
	}
	// containerd v2.1.0 internal/cri/server/container_create.go: "failed to resolve image %q: %w".
	return fmt.Errorf("failed to resolve image %q: not found", ref)
}

// CreateContainer creates a container, or prepares the restore of a checkpoint image.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg, sbCfg := req.GetConfig(), req.GetSandboxConfig()
	switch {
	case cfg == nil:
		return nil, errors.New("config is nil")
	case cfg.GetImage() == nil:
		return nil, errors.New("config image is nil")
	case sbCfg.GetMetadata() == nil:
		return nil, errors.New("sandbox config metadata is nil")
	}
	s.mu.Lock()
	sb, err := s.sandboxLocked(req.GetPodSandboxId())
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("specified sandbox not found: %s: %w", req.GetPodSandboxId(), err)
	}
	imageRef := cfg.GetImage().GetImage()
	lg := s.log.With("namespace", sbCfg.GetMetadata().GetNamespace(), "pod", sbCfg.GetMetadata().GetName(), "container", cfg.GetMetadata().GetName(), "image", imageRef)
	img := s.images.Resolve(imageRef)

	var ann ImageAnnotations
	if img != nil {
		ann = ImageAnnotations{Manifest: img.ManifestAnnotations, Target: img.TargetAnnotations}
	} else if s.p.Runtime == RuntimeContainerd && !s.p.RestoreRemoved {
		// containerd v2.1.0 internal/cri/server/container_create.go: the checkpoint check
		// resolves the image first, so a missing image fails there.
		return nil, fmt.Errorf("failed to check if this is a checkpoint image: %w", s.imageNotFound(imageRef))
	}
	_, detected := DetectCheckpoint(s.p, ann)
	switch DecideRestore(s.p, detected) {
	case RefuseDisabled:
		lg.Warn("checkpoint image refused: restore switched off", "switch", s.p.Switch)
		return nil, errors.New(errRestoreDisabled)
	case RestoreIt:
		c, err := s.prepareRestore(ctx, cfg, sb, img)
		if err != nil {
			lg.Warn("restore refused", "error", err.Error())
			return nil, err
		}
		return s.addContainer(c, lg)
	}
	if img == nil {
		return nil, s.imageNotFound(imageRef)
	}
	args, err := processArgs(cfg, img.Config)
	if err != nil {
		return nil, err
	}
	if err := s.checkImageMounts(cfg); err != nil {
		return nil, err
	}
	c := s.newContainer(cfg, sb, img)
	c.Args = args
	if missing, err := s.execMissing(img, args[0]); err != nil {
		return nil, err
	} else if missing {
		if FailureStage(s.p, FailExecNotFound) == AtCreate {
			return nil, errors.New(createFailedText(s.p, args[0]))
		}
		c.startError = createFailedText(s.p, args[0])
	}
	return s.addContainer(c, lg)
}

func (s *Server) addContainer(c *Container, lg interface{ Info(string, ...any) }) (*runtimeapi.CreateContainerResponse, error) {
	s.mu.Lock()
	s.containers[c.ID] = c
	s.mu.Unlock()
	lg.Info("container created", "id", c.ID[:12], "restore", c.restore != nil)
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}

// newContainer fills what every container has; image fields describe img.
func (s *Server) newContainer(cfg *runtimeapi.ContainerConfig, sb *Sandbox, img *StoredImage) *Container {
	c := &Container{
		ID: newID(), SandboxID: sb.ID, Config: cfg, Sandbox: sb.Config,
		Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(),
		State: runtimeapi.ContainerState_CONTAINER_CREATED, CreatedAt: time.Now(),
		MemoryBytes: s.memoryBytes(sb.Config, cfg.GetMetadata().GetName()),
	}
	if cfg.GetLogPath() != "" {
		c.LogPath = filepath.Join(sb.Config.GetLogDirectory(), cfg.GetLogPath())
	}
	s.describeImage(c, img, cfg.GetImage().GetImage())
	return c
}

// describeImage sets the status image fields as the runtime reports them.
func (s *Server) describeImage(c *Container, img *StoredImage, requested string) {
	name := requested
	if len(img.RepoTags) > 0 {
		name = img.RepoTags[0]
	} else if len(img.RepoDigests) > 0 {
		name = img.RepoDigests[0]
	}
	ref := img.ID
	if len(img.RepoDigests) > 0 {
		ref = img.RepoDigests[0]
	}
	c.ImageName, c.ImageRef = name, ref
	if s.p.Runtime == RuntimeContainerd && len(img.RepoTags) == 0 {
		// containerd keeps the config's ImageSpec when the image has no tag, else replaces it.
		c.ImageUserSpecified = c.Config.GetImage().GetUserSpecifiedImage()
	}
	if s.p.Runtime == RuntimeCRIO {
		// cri-o v1.34.0 server/container_status.go: image = SomeNameOfTheImage,
		// image_ref = the repo digest, image_id = the bare hex ID.
		c.ImageID = img.HexID()
	} else {
		// containerd v2.1.0 internal/cri/server/container_status.go: image = repoTags[0],
		// image_ref = repoDigests[0] (else the image ID).
		c.ImageID = img.ID
	}
}

// checkImageMounts: a mount with an image must name an image on the node.
func (s *Server) checkImageMounts(cfg *runtimeapi.ContainerConfig) error {
	for _, m := range cfg.GetMounts() {
		ref := m.GetImage().GetImage()
		if ref == "" || s.images.Resolve(ref) != nil {
			continue
		}
		if s.p.Runtime == RuntimeCRIO {
			// cri-o v1.34.0 server/container_create_linux.go mountImage and the caller's
			// fmt.Errorf("%w: %w", crierrors.ErrImageVolumeMountFailed, err).
			return fmt.Errorf("ImageVolumeMountFailed: image %q does not exist locally", ref)
		}
		// containerd v2.1.0 internal/cri/server/container_image_mount.go mutateImageMount and
		// container_create.go "failed to mount image volume: %w".
		return fmt.Errorf("failed to mount image volume: failed to resolve image %q: not found", ref)
	}
	return nil
}

// lookupLocked finds a container by ID or unique prefix.
func (s *Server) lookupLocked(id string) *Container {
	if c, ok := s.containers[id]; ok {
		return c
	}
	if len(id) < 6 {
		return nil
	}
	for full, c := range s.containers {
		if strings.HasPrefix(full, id) {
			return c
		}
	}
	return nil
}

func (s *Server) notFound(id string) error {
	if s.p.Runtime == RuntimeCRIO {
		// cri-o v1.34.0 server/container_start.go and others.
		return status.Errorf(codes.NotFound, "could not find container %q: container with ID starting with %s not found: ID does not exist", id, id)
	}
	// containerd v2.1.0 internal/cri/server/container_start.go.
	return status.Errorf(codes.NotFound, "an error occurred when try to find container %q: not found", id)
}

// StartContainer starts the app, restoring the checkpoint CreateContainer prepared.
func (s *Server) StartContainer(_ context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	s.mu.Lock()
	c := s.lookupLocked(req.GetContainerId())
	if c == nil {
		s.mu.Unlock()
		return nil, s.notFound(req.GetContainerId())
	}
	if c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		st := c.State
		s.mu.Unlock()
		if s.p.Runtime == RuntimeCRIO {
			return nil, fmt.Errorf("container %s is not in created state: %s", c.ID, crioStateName(st))
		}
		return nil, fmt.Errorf("failed to set starting state for container %q: container is in %s state", c.ID, st)
	}
	lg := s.log.With("namespace", c.podNamespace(), "pod", c.podName(), "container", c.name(), "image", c.Config.GetImage().GetImage())
	plan := c.restore
	startErr := c.startError
	s.mu.Unlock()

	if plan != nil {
		if s.faults.restoreFails(plan.Image, plan.ImageID, c.Config.GetImage().GetImage()) {
			msg := restoreFailedText(s.p, c.ID)
			s.failStart(c, msg)
			lg.Warn("criu restore failed (fault)", "id", c.ID[:12])
			return nil, errors.New(msg)
		}
		if s.p.Runtime == RuntimeCRIO && plan.LogBytes != nil && c.LogPath != "" {
			// cri-o v1.34.0 internal/lib/restore.go: the archive's log replaces the new one.
			if err := writeFileMkdir(c.LogPath, plan.LogBytes, 0o640); err != nil {
				return nil, fmt.Errorf("error opening log file %q: %w", c.LogPath, err)
			}
		}
	} else if startErr != "" {
		s.failStart(c, startErr)
		return nil, errors.New(startErr)
	}
	var startValue int64
	restored, shown := "", ""
	if plan != nil {
		startValue, restored, shown = plan.State.Counter, plan.Image, plan.Image
	}
	crash := time.Duration(0)
	if s.faults.crashLoop(c.podNamespace(), c.podName(), c.name()) {
		crash = 1500 * time.Millisecond
	}
	a, err := startApp(c.LogPath, startValue, restored, shown, crash, func(code int32, reason string) { s.appExited(c, code, reason) })
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", c.LogPath, err)
	}
	s.mu.Lock()
	c.app, c.State, c.StartedAt, c.restoredFrom = a, runtimeapi.ContainerState_CONTAINER_RUNNING, a.startedAt, restored
	s.mu.Unlock()
	lg.Info("container started", "id", c.ID[:12], "restoredFrom", restored, "counter", startValue)
	return &runtimeapi.StartContainerResponse{}, nil
}

func crioStateName(st runtimeapi.ContainerState) string {
	switch st {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return "running"
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		return "stopped"
	default:
		return "created"
	}
}

// failStart records a failed start as each runtime does.
func (s *Server) failStart(c *Container, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p.Runtime == RuntimeCRIO && c.restore != nil {
		// cri-o v1.34.0 server/container_start.go: a failed restore releases the name and
		// removes the container.
		delete(s.containers, c.ID)
		return
	}
	// containerd v2.1.0 internal/cri/server/container_start.go: errorStartExitCode 128,
	// errorStartReason "StartError", the error as message.
	c.State, c.FinishedAt, c.ExitCode, c.Reason, c.Message = runtimeapi.ContainerState_CONTAINER_EXITED, time.Now(), 128, "StartError", msg
	if s.p.Runtime == RuntimeCRIO {
		c.Reason = "Error"
	}
}

func (s *Server) appExited(c *Container, code int32, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.lastCounter = c.app.counterAt(time.Now())
	c.State, c.FinishedAt, c.ExitCode, c.Reason = runtimeapi.ContainerState_CONTAINER_EXITED, time.Now(), code, reason
	s.log.Info("container exited", "namespace", c.podNamespace(), "pod", c.podName(), "container", c.name(), "id", c.ID[:12], "exitCode", code, "reason", reason)
}

// StopContainer: the app ends on the stop signal (exit 0, "Completed"); a zero timeout is a
// kill (137). cri-o v1.34.0 server/container_status.go and containerd v2.1.0
// internal/cri/server/container_status.go both report "Completed" for 0 and "Error" otherwise.
func (s *Server) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	s.mu.Lock()
	c := s.lookupLocked(req.GetContainerId())
	if c == nil {
		s.mu.Unlock()
		return nil, s.notFound(req.GetContainerId())
	}
	a := c.app
	running := c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	if c.State == runtimeapi.ContainerState_CONTAINER_CREATED {
		c.State, c.FinishedAt, c.ExitCode, c.Reason = runtimeapi.ContainerState_CONTAINER_EXITED, time.Now(), 0, "Completed"
	}
	s.mu.Unlock()
	if running && a != nil {
		if req.GetTimeout() > 0 {
			a.exit(0, "Completed")
		} else {
			a.exit(137, "Error")
		}
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer stops and forgets a container; an unknown one is fine.
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	s.mu.Lock()
	c := s.lookupLocked(req.GetContainerId())
	s.mu.Unlock()
	if c == nil {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if _, err := s.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ID, Timeout: 0}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.containers, c.ID)
	s.mu.Unlock()
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (s *Server) containerStatusLocked(c *Container) *runtimeapi.ContainerStatus {
	st := &runtimeapi.ContainerStatus{
		Id: c.ID, Metadata: c.Config.GetMetadata(), State: c.State,
		CreatedAt: c.CreatedAt.UnixNano(),
		Image:     &runtimeapi.ImageSpec{Image: c.ImageName, UserSpecifiedImage: c.ImageUserSpecified},
		ImageRef:  c.ImageRef, ImageId: c.ImageID,
		Labels: maps.Clone(c.Labels), Annotations: maps.Clone(c.Annotations),
		Mounts: c.Config.GetMounts(), LogPath: c.LogPath,
		ExitCode: c.ExitCode, Reason: c.Reason, Message: c.Message,
		Resources: &runtimeapi.ContainerResources{Linux: c.Config.GetLinux().GetResources()},
	}
	if !c.StartedAt.IsZero() {
		st.StartedAt = c.StartedAt.UnixNano()
	}
	if !c.FinishedAt.IsZero() {
		st.FinishedAt = c.FinishedAt.UnixNano()
	}
	return st
}

// ContainerStatus reports one container.
func (s *Server) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupLocked(req.GetContainerId())
	if c == nil {
		return nil, s.notFound(req.GetContainerId())
	}
	return &runtimeapi.ContainerStatusResponse{Status: s.containerStatusLocked(c)}, nil
}

// ListContainers honours the id, state, sandbox and label filters.
func (s *Server) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &runtimeapi.ListContainersResponse{}
	for _, c := range s.containers {
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.SandboxID, f.GetPodSandboxId()) {
			continue
		}
		if f.GetState() != nil && f.GetState().GetState() != c.State {
			continue
		}
		if !labelsMatch(c.Labels, f.GetLabelSelector()) {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.SandboxID, Metadata: c.Config.GetMetadata(),
			Image:    &runtimeapi.ImageSpec{Image: c.ImageName, UserSpecifiedImage: c.ImageUserSpecified},
			ImageRef: c.ImageRef, ImageId: c.ImageID, State: c.State, CreatedAt: c.CreatedAt.UnixNano(),
			Labels: maps.Clone(c.Labels), Annotations: maps.Clone(c.Annotations),
		})
	}
	return resp, nil
}

// UpdateContainerResources is accepted and recorded.
func (s *Server) UpdateContainerResources(_ context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupLocked(req.GetContainerId())
	if c == nil {
		return nil, s.notFound(req.GetContainerId())
	}
	if req.GetLinux() != nil && c.Config.GetLinux() != nil {
		c.Config.Linux.Resources = req.GetLinux()
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog reopens the log after the kubelet rotated it.
func (s *Server) ReopenContainerLog(_ context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	s.mu.Lock()
	c := s.lookupLocked(req.GetContainerId())
	var a *app
	if c != nil && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
		a = c.app
	}
	s.mu.Unlock()
	if c == nil {
		return nil, s.notFound(req.GetContainerId())
	}
	if a == nil {
		return nil, fmt.Errorf("container %q is not running", c.ID)
	}
	if err := a.reopen(); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

// ExecSync, Exec, Attach, PortForward: there are no processes to enter.
func (s *Server) ExecSync(context.Context, *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return nil, status.Error(codes.Unimplemented, "kcr-cri-sim runs no processes: exec is not simulated")
}

func (s *Server) Exec(context.Context, *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return nil, status.Error(codes.Unimplemented, "kcr-cri-sim runs no processes: exec is not simulated")
}

func (s *Server) Attach(context.Context, *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, status.Error(codes.Unimplemented, "kcr-cri-sim runs no processes: attach is not simulated")
}

func (s *Server) PortForward(context.Context, *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return nil, status.Error(codes.Unimplemented, "kcr-cri-sim has no network: port-forward is not simulated")
}
