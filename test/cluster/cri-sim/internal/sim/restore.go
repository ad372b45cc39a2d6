package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// prepareRestore is each runtime's CRImportCheckpoint: it reads the archive from the
// checkpoint image, checks it as that runtime does, finds the base image and makes a created
// container that StartContainer restores.
func (s *Server) prepareRestore(ctx context.Context, cfg *runtimeapi.ContainerConfig, sb *Sandbox, img *StoredImage) (*Container, error) {
	if cfg.GetMetadata().GetName() == "" {
		return nil, errors.New(`attribute "metadata" missing from container definition`)
	}
	paths := make([]string, 0, len(img.Layers))
	for _, l := range img.Layers {
		paths = append(paths, l.Path)
	}
	arch, err := ReadArchiveLayers(paths)
	if err != nil {
		return nil, err
	}
	if s.p.Runtime == RuntimeCRIO {
		return s.crioImport(cfg, sb, img, arch)
	}
	return s.containerdImport(ctx, cfg, sb, img, arch)
}

// readDump reads one JSON dump from the mounted image / unpacked archive.
func readDump(arch *Archive, name, mountPoint string, into any) error {
	b, ok := arch.Files[name]
	if !ok {
		// checkpointctl lib/metadata.go ReadJSONFile: os.ReadFile's error.
		return errors.New(readDumpText(name, fmt.Sprintf("open %s/%s: no such file or directory", mountPoint, name)))
	}
	if err := json.Unmarshal(b, into); err != nil {
		return errors.New(readDumpText(name, err.Error()))
	}
	return nil
}

type specDump struct {
	Annotations map[string]string `json:"annotations"`
	Mounts      []ociMount        `json:"mounts"`
}

func (s *Server) pagesState(arch *Archive) (AppState, error) {
	if !arch.PagesOK || arch.State == nil {
		// What CRI-O's runtime step checks first (internal/oci/runtime_oci.go RestoreContainer:
		// inventory.img); the app state stands in for CRIU's memory images.
		return AppState{}, errors.New("a complete checkpoint for this container cannot be found, cannot restore: checkpoint/pages-1.img holds no kcr-sim app state")
	}
	return *arch.State, nil
}

// crioImport follows cri-o v1.34.0 (and v1.29.0) server/container_restore.go CRImportCheckpoint.
func (s *Server) crioImport(cfg *runtimeapi.ContainerConfig, sb *Sandbox, img *StoredImage, arch *Archive) (*Container, error) {
	input := cfg.GetImage().GetImage()
	mountPoint := "/var/lib/containers/storage/overlay/" + img.HexID() + "/merged"
	var dump specDump
	if err := readDump(arch, "spec.dump", mountPoint, &dump); err != nil {
		return nil, err
	}
	var config containerConfigDump
	if err := readDump(arch, "config.dump", mountPoint, &config); err != nil {
		return nil, err
	}
	labels := cfg.GetLabels()
	if s.p.ReadsMetadataAnnotation {
		// cri-o v1.29.0: io.kubernetes.cri-o.Metadata and io.kubernetes.cri-o.Labels are read too.
		var meta map[string]any
		if err := json.Unmarshal([]byte(dump.Annotations["io.kubernetes.cri-o.Metadata"]), &meta); err != nil {
			return nil, fmt.Errorf("failed to read %q: %w", "io.kubernetes.cri-o.Metadata", err)
		}
	}
	original := map[string]string{}
	if err := json.Unmarshal([]byte(dump.Annotations["io.kubernetes.cri-o.Annotations"]), &original); err != nil {
		return nil, fmt.Errorf("failed to read %q: %w", "io.kubernetes.cri-o.Annotations", err)
	}
	if s.p.ReadsMetadataAnnotation {
		orig := map[string]string{}
		if err := json.Unmarshal([]byte(dump.Annotations["io.kubernetes.cri-o.Labels"]), &orig); err != nil {
			return nil, fmt.Errorf("failed to read %q: %w", "io.kubernetes.cri-o.Labels", err)
		}
		// cri-o v1.29.0: the original labels, with pod UID, container, pod and namespace
		// taken from the new request.
		for _, k := range []string{"io.kubernetes.pod.uid", "io.kubernetes.container.name", "io.kubernetes.pod.name", "io.kubernetes.pod.namespace"} {
			if _, ok := orig[k]; ok {
				if v, ok := cfg.GetLabels()[k]; ok {
					orig[k] = v
				}
			}
		}
		labels = orig
	}
	// Pod UID and container hash follow the new pod, everything else stays the original's.
	if _, ok := original["io.kubernetes.pod.uid"]; ok {
		original["io.kubernetes.pod.uid"] = sb.Config.GetMetadata().GetUid()
	}
	if h, ok := cfg.GetAnnotations()["io.kubernetes.container.hash"]; ok {
		if _, ok := original["io.kubernetes.container.hash"]; ok {
			original["io.kubernetes.container.hash"] = h
		}
	}
	rootFSImage := config.RootfsImageName
	if config.RootfsImageRef != "" {
		if !hexIDRe.MatchString(config.RootfsImageRef) {
			// internal/storage/image_id.go parseStorageImageID.
			return nil, fmt.Errorf("invalid RootfsImageRef %q: %q is not a valid image ID", config.RootfsImageRef, config.RootfsImageRef)
		}
		rootFSImage = config.RootfsImageRef
	}
	var destinations, declared []string
	for _, m := range dump.Mounts {
		destinations = append(destinations, m.Destination)
	}
	for _, m := range cfg.GetMounts() {
		declared = append(declared, m.GetContainerPath())
	}
	if missing := MissingMounts(s.p, destinations, declared); len(missing) > 0 {
		return nil, errors.New(missingMountsText(input, missing))
	}
	base := s.images.Resolve(rootFSImage)
	if DecideBase(s.p, base != nil) == BaseMissing {
		return nil, s.imageNotFound(rootFSImage)
	}
	state, err := s.pagesState(arch)
	if err != nil {
		return nil, err
	}
	c := s.newContainer(cfg, sb, base)
	c.Labels, c.Annotations = labels, original
	c.Args = base.Config.Cmd
	c.restore = &restorePlan{Image: givenImage(cfg), ImageID: img.ID, State: state, LogBytes: arch.Files["io.kubernetes.cri-o.LogPath"], Archive: arch, BaseImage: base}
	return c, nil
}

// containerdImport follows containerd v2.1.0 / v2.3.4
// internal/cri/server/container_checkpoint_linux.go CRImportCheckpoint.
func (s *Server) containerdImport(ctx context.Context, cfg *runtimeapi.ContainerConfig, sb *Sandbox, img *StoredImage, arch *Archive) (*Container, error) {
	mountPoint := fmt.Sprintf("/tmp/checkpoint%d", rand.Uint32N(1_000_000_000))
	var dump specDump
	if err := readDump(arch, "spec.dump", mountPoint, &dump); err != nil {
		return nil, err
	}
	var config containerConfigDump
	if err := readDump(arch, "config.dump", mountPoint, &config); err != nil {
		return nil, err
	}
	var st runtimeapi.ContainerStatus
	if err := readDump(arch, "status.dump", mountPoint, &st); err != nil {
		return nil, err
	}
	labels := maps.Clone(st.GetLabels())
	annotations := maps.Clone(st.GetAnnotations())
	if labels == nil {
		labels = map[string]string{}
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	uid := sb.Config.GetMetadata().GetUid()
	if _, ok := labels["io.kubernetes.pod.uid"]; ok {
		labels["io.kubernetes.pod.uid"] = uid
	}
	if _, ok := annotations["io.kubernetes.pod.uid"]; ok {
		annotations["io.kubernetes.pod.uid"] = uid
	}
	for _, k := range []string{"io.kubernetes.container.name", "io.kubernetes.pod.name", "io.kubernetes.pod.namespace"} {
		if v, ok := cfg.GetLabels()[k]; ok {
			if _, ok := labels[k]; ok {
				labels[k] = v
			}
		}
	}
	for _, k := range []string{"io.kubernetes.container.hash", "io.kubernetes.container.restartCount"} {
		if v, ok := cfg.GetAnnotations()[k]; ok {
			if _, ok := annotations[k]; ok {
				annotations[k] = v
			}
		}
	}
	base, err := s.containerdBase(ctx, config)
	if err != nil {
		return nil, err
	}
	if _, err := ParseImageRef(config.RootfsImageName); err != nil {
		return nil, fmt.Errorf("error parsing reference: %q is not a valid repository/tag %v", config.RootfsImageName, err)
	}
	state, err := s.pagesState(arch)
	if err != nil {
		return nil, err
	}
	annotations["restored"] = "true"
	annotations["checkpointedAt"] = config.CheckpointedAt.Format("2006-01-02T15:04:05.999999999Z07:00")
	annotations["checkpointImage"] = cfg.GetImage().GetUserSpecifiedImage()
	c := s.newContainer(cfg, sb, base)
	c.Labels, c.Annotations = labels, annotations
	// "Remove the checkpoint image name and show the base image name in the metadata."
	if name := st.GetImage().GetImage(); name != "" {
		c.ImageName, c.ImageUserSpecified = name, st.GetImage().GetUserSpecifiedImage()
	}
	c.Args = base.Config.Cmd
	c.restore = &restorePlan{Image: givenImage(cfg), ImageID: img.ID, State: state, Archive: arch, BaseImage: base}
	// containerd copies the archive's container.log over the new log at CreateContainer.
	if log, ok := arch.Files["container.log"]; ok && c.LogPath != "" {
		if err := writeFileMkdir(c.LogPath, log, 0o600); err != nil {
			return nil, fmt.Errorf("restoring container log file %s failed: %w", mountPoint+"/container.log", err)
		}
	}
	return c, nil
}

// containerdBase gets the base image as containerd's restore does: v2.1 always pulls
// config.rootfsImageRef; v2.2/v2.3 use the local image of that name first. The pull uses
// the default resolver: no credentials and none of the node's registry settings.
func (s *Server) containerdBase(ctx context.Context, config containerConfigDump) (*StoredImage, error) {
	ref := config.RootfsImageRef
	local := s.images.Resolve(ref)
	if DecideBase(s.p, local != nil) == BaseUseLocal {
		return local, nil
	}
	parsed, err := ParseImageRef(ref)
	if err != nil || strings.HasPrefix(ref, "sha256:") {
		// containerd#12876: a bare image ID is not a pullable reference.
		if err == nil {
			err = fmt.Errorf("invalid reference format")
		}
		return nil, fmt.Errorf("failed to pull checkpoint base image %s: failed to resolve reference %q: %v", ref, ref, err)
	}
	img, err := s.pull(ctx, parsed, ref, nil, s.registry.DefaultResolverTransport(parsed.Registry))
	if err != nil {
		var re *RegistryError
		if errors.As(err, &re) {
			return nil, errors.New("failed to pull checkpoint base image " + ref + ": " + containerdResolveError(parsed, re))
		}
		return nil, fmt.Errorf("failed to pull checkpoint base image %s: %w", ref, err)
	}
	if config.RootfsImageName != "" {
		// "Second step is to tag the image with the same tag it used to have during checkpointing."
		if r, err := ParseImageRef(config.RootfsImageName); err == nil && r.Tag != "" {
			img.RepoTags = append(img.RepoTags, r.Name()+":"+r.Tag)
			img, _ = s.images.Add(img)
		}
	}
	return img, nil
}
