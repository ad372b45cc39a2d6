package sim

import (
	"fmt"
	"sort"
	"strings"
)

// Runtime names as each runtime reports them in VersionResponse.runtime_name.
const (
	RuntimeCRIO       = "cri-o"      // cri-o v1.34.0 server/version.go: containerName = "cri-o"
	RuntimeContainerd = "containerd" // containerd v2.1.0 internal/cri/server/version.go: containerName
)

// BasePolicy says where the base image of a restore comes from.
type BasePolicy int

const (
	// BaseLocalOnly: looked up in the node's store, never pulled.
	// cri-o v1.34.0 server/container_restore.go: the image is the ID from config.dump
	// rootfsImageRef, resolved by createSandboxContainer (server/container_create.go) in
	// local storage only.
	BaseLocalOnly BasePolicy = iota
	// BaseAlwaysPull: pulled anonymously on every restore.
	// containerd v2.1.0 internal/cri/server/container_checkpoint_linux.go: c.client.Pull(ctx,
	// config.RootfsImageRef) with the default resolver (no credentials, no hosts.toml).
	BaseAlwaysPull
	// BaseLocalThenPull: the local copy if there is one, else an anonymous pull.
	// containerd v2.3.4 internal/cri/server/container_checkpoint_linux.go: GetImage, then Pull on NotFound.
	BaseLocalThenPull
)

func (b BasePolicy) String() string {
	return [...]string{"local-only", "always-pull", "local-then-pull"}[b]
}

// Profile is one runtime version's behaviour, as data. Decisions over it are in rules.go.
type Profile struct {
	Name    string // as given on the command line, without ":restore=..."
	Runtime string // RuntimeCRIO or RuntimeContainerd
	// Version as the Version RPC reports it. containerd's release builds set version.Version
	// from `git describe` (containerd v2.1.0 Makefile: VERSION ?= $(shell git describe ...)),
	// so it carries the leading "v"; the kubelet's Node shows it without (ParseSemantic).
	Version string
	// Switch is the runtime's config switch for restore ("" when there is none).
	Switch string
	// RestoreDefault is the switch's default.
	RestoreDefault bool
	// RestoreRemoved: the runtime has no restore code at all (containerd 2.4).
	RestoreRemoved bool
	// SwitchOffRefusesAtCreate: with the switch off a detected checkpoint image is refused at
	// CreateContainer with DisabledRestoreError (containerd); otherwise the runtime does not look
	// for checkpoint images and the image runs as an ordinary one (CRI-O).
	SwitchOffRefusesAtCreate bool
	// CheckpointNeedsSwitch: CheckpointContainer refuses when the switch is off (CRI-O).
	CheckpointNeedsSwitch bool
	// DetectAnnotation is the manifest annotation that marks a checkpoint image.
	DetectAnnotation string
	// DetectOnTarget: read it from what the tag points at (an index or a manifest) instead of
	// the platform image manifest.
	DetectOnTarget bool
	Base           BasePolicy
	// BindMountCheck: every mount of the original must be declared again (CRI-O >= 1.32).
	BindMountCheck bool
	// ReadsMetadataAnnotation: the restore reads io.kubernetes.cri-o.Metadata and
	// io.kubernetes.cri-o.Labels from spec.dump too (CRI-O < 1.32).
	ReadsMetadataAnnotation bool
	// OCIRuntime is the default low-level runtime, whose error texts the runtime passes on.
	OCIRuntime string
	// Restore is the effective switch after parsing (default or ":restore=").
	Restore bool
}

// Annotation names, from the runtimes' sources.
const (
	// cri-o v1.34.0 pkg/annotations/checkpoint.go: CheckpointAnnotationName.
	AnnotationCRIOCheckpoint = "io.kubernetes.cri-o.annotations.checkpoint.name"
	// containerd v2.1.0 vendor/github.com/checkpoint-restore/checkpointctl/lib/annotations.go:
	// CheckpointAnnotationName, read by internal/cri/server/container_checkpoint_linux.go.
	AnnotationCRIUCheckpoint = "org.criu.checkpoint.container.name"
)

// profiles is the table of known runtime versions.
var profiles = map[string]Profile{
	// cri-o v1.34.0 pkg/config/config.go: EnableCriuSupport: true by default (since v1.30.0);
	// default_runtime "crun" (pkg/config/config_linux.go); bind-mount check since v1.32.0.
	"cri-o-1.34": {
		Runtime: RuntimeCRIO, Version: "1.34.0", Switch: "enable_criu_support", RestoreDefault: true,
		CheckpointNeedsSwitch: true, DetectAnnotation: AnnotationCRIOCheckpoint,
		Base: BaseLocalOnly, BindMountCheck: true, OCIRuntime: "crun",
	},
	// cri-o v1.29.0 pkg/config/config.go: EnableCriuSupport not set in the defaults (off);
	// default_runtime "runc"; server/container_restore.go reads io.kubernetes.cri-o.Metadata
	// and io.kubernetes.cri-o.Labels and has no bind-mount check.
	"cri-o-1.29": {
		Runtime: RuntimeCRIO, Version: "1.29.0", Switch: "enable_criu_support", RestoreDefault: false,
		CheckpointNeedsSwitch: true, DetectAnnotation: AnnotationCRIOCheckpoint,
		Base: BaseLocalOnly, ReadsMetadataAnnotation: true, OCIRuntime: "runc",
	},
	// containerd v2.1.0 internal/cri/server/container_create.go: restore always on, no switch.
	"containerd-2.1": {
		Runtime: RuntimeContainerd, Version: "v2.1.0", RestoreDefault: true,
		DetectAnnotation: AnnotationCRIUCheckpoint, DetectOnTarget: true,
		Base: BaseAlwaysPull, OCIRuntime: "runc",
	},
	// containerd v2.3.4 internal/cri/config/config_unix.go: EnableExperimentalRestoreViaCreate:
	// false; internal/cri/server/container_checkpoint_linux.go CRImportCheckpoint refuses when off.
	"containerd-2.3.4": {
		Runtime: RuntimeContainerd, Version: "v2.3.4", Switch: "enable_experimental_restore_via_create",
		RestoreDefault: false, SwitchOffRefusesAtCreate: true,
		DetectAnnotation: AnnotationCRIUCheckpoint, DetectOnTarget: true,
		Base: BaseLocalThenPull, OCIRuntime: "runc",
	},
	// containerd v2.4.0-beta.0 internal/cri/server/container_create.go: no checkpoint image
	// detection, CRImportCheckpoint is gone; CheckpointContainer stays.
	"containerd-2.4": {
		Runtime: RuntimeContainerd, Version: "v2.4.0", RestoreRemoved: true,
		DetectAnnotation: AnnotationCRIUCheckpoint, DetectOnTarget: true,
		Base: BaseLocalThenPull, OCIRuntime: "runc",
	},
}

// ProfileNames lists the known profiles, sorted.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseProfile reads NAME[:restore=on|off].
func ParseProfile(spec string) (Profile, error) {
	name, opt, hasOpt := strings.Cut(spec, ":")
	p, ok := profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	p.Name = name
	p.Restore = p.RestoreDefault && !p.RestoreRemoved
	if !hasOpt {
		return p, nil
	}
	key, val, _ := strings.Cut(opt, "=")
	if key != "restore" || (val != "on" && val != "off") {
		return Profile{}, fmt.Errorf("bad profile option %q in %q: want restore=on or restore=off", opt, spec)
	}
	on := val == "on"
	switch {
	case p.RestoreRemoved && on:
		return Profile{}, fmt.Errorf("profile %q: containerd 2.4 removed restore via CreateContainer; restore=on is not possible", name)
	case p.Switch == "" && !p.RestoreRemoved && !on:
		return Profile{}, fmt.Errorf("profile %q: %s %s has no switch for restore (enable_experimental_restore_via_create came in 2.2.7 and 2.3.4); restore=off is not possible", name, p.Runtime, p.Version)
	}
	p.Restore = on
	return p, nil
}
