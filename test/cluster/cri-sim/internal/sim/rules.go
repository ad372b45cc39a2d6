package sim

// Pure decisions over a Profile. Everything that differs between runtimes is decided here,
// so the table tests in rules_test.go cover it without a server.

// ImageAnnotations are the two places a checkpoint annotation can sit.
type ImageAnnotations struct {
	Manifest map[string]string // the platform image manifest (what CRI-O keeps)
	Target   map[string]string // what the tag resolved to: an index or that same manifest (containerd)
}

// DetectCheckpoint says whether CreateContainer sees img as a checkpoint image, and the
// original container name the annotation carries.
func DetectCheckpoint(p Profile, img ImageAnnotations) (string, bool) {
	switch p.Runtime {
	case RuntimeCRIO:
		// cri-o v1.34.0 server/container_create.go: "If CRIU support is not enabled return from
		// this check as early as possible" — with enable_criu_support off nothing is detected.
		if !p.Restore {
			return "", false
		}
		// cri-o v1.34.0 server/container_restore.go checkIfCheckpointOCIImage: the image
		// status annotations (the manifest's), key CheckpointAnnotationName.
		name, ok := img.Manifest[p.DetectAnnotation]
		return name, ok
	default:
		// containerd v2.4.0-beta.0 internal/cri/server/container_create.go: no detection at all.
		if p.RestoreRemoved {
			return "", false
		}
		// containerd v2.1.0/v2.3.4 internal/cri/server/container_checkpoint_linux.go
		// checkIfCheckpointOCIImage: the blob images.Target points at, read as an OCI index;
		// detection runs before the v2.3.4 switch is looked at.
		name, ok := img.Target[p.DetectAnnotation]
		return name, ok
	}
}

// RestoreAction is what CreateContainer does with an image.
type RestoreAction int

const (
	RunOrdinary    RestoreAction = iota // not a checkpoint image for this runtime
	RestoreIt                           // restore the checkpoint
	RefuseDisabled                      // detected, but the switch is off: CreateContainer fails
)

// DecideRestore turns detection into an action.
func DecideRestore(p Profile, detected bool) RestoreAction {
	switch {
	case !detected:
		return RunOrdinary
	case p.Restore:
		return RestoreIt
	case p.SwitchOffRefusesAtCreate:
		// containerd v2.3.4 internal/cri/server/container_checkpoint_linux.go CRImportCheckpoint:
		// errors.New("checkpoint restore via CreateContainer is disabled by configuration").
		return RefuseDisabled
	default:
		return RunOrdinary
	}
}

// BaseSource is where the base image of a restore comes from.
type BaseSource int

const (
	BaseUseLocal BaseSource = iota
	BasePull                // anonymous pull
	BaseMissing             // fail: not on the node and never pulled
)

// DecideBase applies the profile's base-image policy.
func DecideBase(p Profile, haveLocal bool) BaseSource {
	switch p.Base {
	case BaseAlwaysPull:
		return BasePull
	case BaseLocalThenPull:
		if haveLocal {
			return BaseUseLocal
		}
		return BasePull
	default:
		if haveLocal {
			return BaseUseLocal
		}
		return BaseMissing
	}
}

// restoreIgnoredMounts are the destinations CRI-O does not ask to be declared again.
// cri-o v1.34.0 server/container_restore.go: ignoreMounts.
var restoreIgnoredMounts = map[string]bool{
	"/proc": true, "/dev": true, "/dev/pts": true, "/dev/mqueue": true, "/sys": true,
	"/sys/fs/cgroup": true, "/dev/shm": true, "/etc/resolv.conf": true, "/etc/hostname": true,
	"/run/secrets": true, "/run/.containerenv": true,
}

// MissingMounts lists, in order, the destinations of the original's mounts (spec.dump) that
// the new container config does not declare. Empty when the profile has no such check.
// cri-o v1.34.0 server/container_restore.go: every dumpSpec.Mounts entry not in ignoreMounts
// must have a CreateContainer mount with the same container_path.
func MissingMounts(p Profile, original []string, declared []string) []string {
	if !p.BindMountCheck {
		return nil
	}
	have := map[string]bool{}
	for _, d := range declared {
		have[d] = true
	}
	var missing []string
	for _, d := range original {
		if restoreIgnoredMounts[d] || have[d] {
			continue
		}
		missing = append(missing, d)
	}
	return missing
}

// Stage is the CRI call a failure surfaces in; the kubelet turns a CreateContainer failure
// into CreateContainerError and a StartContainer failure into RunContainerError.
type Stage int

const (
	AtCreate Stage = iota
	AtStart
)

func (s Stage) String() string { return [...]string{"CreateContainer", "StartContainer"}[s] }

// Failure kinds whose stage differs or needs stating.
type Failure int

const (
	FailNoCommand      Failure = iota // image and pod give no command
	FailExecNotFound                  // the command is not in the image's filesystem
	FailCRIURestore                   // criu restore fails
	FailBaseImage                     // the base image is missing or its pull fails
	FailBindMounts                    // a mount of the original is not declared again
	FailForeignArchive                // the archive was written by the other runtime
)

// FailureStage says where a failure surfaces for the profile.
func FailureStage(p Profile, f Failure) Stage {
	switch f {
	case FailExecNotFound:
		if p.Runtime == RuntimeCRIO {
			// cri-o v1.34.0 server/container_create.go createSandboxContainer runs the OCI
			// runtime's create (internal/oci/runtime_oci.go CreateContainer); runc and crun
			// resolve the executable there ("container create failed: ...").
			return AtCreate
		}
		// containerd v2.1.0 internal/cri/server/container_start.go: the task (runc create)
		// is made in StartContainer ("failed to create containerd task").
		return AtStart
	case FailCRIURestore:
		// cri-o v1.34.0 server/container_start.go: c.Restore() → ContainerRestore;
		// containerd v2.1.0 internal/cri/server/container_start.go: container.Restore.
		return AtStart
	default:
		// "no command specified": cri-o v1.34.0 internal/factory/container/container.go
		// SpecSetProcessArgs, containerd v2.1.0 internal/cri/opts/spec_opts.go WithProcessArgs,
		// both while building the spec in CreateContainer. Base image, mounts and archive
		// reading are all in CRImportCheckpoint, called from CreateContainer.
		return AtCreate
	}
}
