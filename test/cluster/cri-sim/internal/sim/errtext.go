package sim

import (
	"fmt"
	"strings"
)

// The runtimes' error texts, built from the format strings in their sources. Paths inside
// them are the runtime's own (/var/lib/containers/..., /var/lib/containerd/...), since that is
// what a kubelet event shows.

// errNoCommand: cri-o v1.34.0 internal/factory/container/container.go SpecSetProcessArgs and
// containerd v2.1.0 internal/cri/opts/spec_opts.go WithProcessArgs: errors.New("no command specified").
const errNoCommand = "no command specified"

// errCheckpointUnsupported: cri-o v1.34.0 server/container_checkpoint.go (and v1.29.0):
// CheckpointContainer without enable_criu_support.
const errCheckpointUnsupported = "checkpoint/restore support not available"

// errRestoreDisabled: containerd v2.3.4 internal/cri/server/container_checkpoint_linux.go.
const errRestoreDisabled = "checkpoint restore via CreateContainer is disabled by configuration"

func crioDir(id string) string {
	return "/var/lib/containers/storage/overlay-containers/" + id + "/userdata"
}
func crioBundle(id string) string {
	return "/run/containers/storage/overlay-containers/" + id + "/userdata"
}
func containerdRoot(id string) string {
	return "/var/lib/containerd/io.containerd.grpc.v1.cri/containers/" + id
}

// execNotFound is the low-level runtime's text for a missing executable at create.
func execNotFound(p Profile, cmd string) string {
	if p.OCIRuntime == "crun" {
		// crun 1.23 src/libcrun/utils.c find_executable:
		// "executable file `%s` not found%s" (" in $PATH" for a relative name), with strerror.
		where := ""
		if !strings.HasPrefix(cmd, "/") {
			where = " in $PATH"
		}
		return fmt.Sprintf("executable file `%s` not found%s: No such file or directory", cmd, where)
	}
	// runc (libcontainer standard_init_linux.go): exec.LookPath before the exec fifo.
	var inner string
	if strings.Contains(cmd, "/") {
		inner = fmt.Sprintf("exec: %q: stat %s: no such file or directory", cmd, cmd)
	} else {
		inner = fmt.Sprintf("exec: %q: executable file not found in $PATH", cmd)
	}
	if p.Runtime == RuntimeCRIO {
		// runc 1.1 (CRI-O 1.29's era) has no "error during container init: " step.
		return "runc create failed: unable to start container process: " + inner
	}
	return "runc create failed: unable to start container process: error during container init: " + inner
}

// createFailedText is how the runtime reports a failed OCI create.
func createFailedText(p Profile, cmd string) string {
	if p.Runtime == RuntimeCRIO {
		// cri-o v1.34.0 internal/oci/runtime_oci.go CreateContainer: "container create failed: %s".
		return "container create failed: " + execNotFound(p, cmd)
	}
	// containerd v2.1.0 internal/cri/server/container_start.go: "failed to create containerd
	// task: %w"; the shim adds "failed to create shim task: OCI runtime create failed: " and the
	// gRPC code suffix ": unknown".
	return "failed to create containerd task: failed to create shim task: OCI runtime create failed: " + execNotFound(p, cmd) + ": unknown"
}

// checkpointFailedText is a failed CRIU dump as the runtime reports it.
func checkpointFailedText(p Profile, id string) string {
	if p.Runtime == RuntimeCRIO {
		dir := crioDir(id)
		args := []string{"checkpoint", "--file-locks", "--image-path", dir + "/checkpoint", "--work-path", dir, "--leave-running", id}
		var low string
		if p.OCIRuntime == "crun" {
			// crun 1.23 src/libcrun/criu.c: "CRIU checkpointing failed %d.  Please check CRIU logfile %s/%s".
			low = fmt.Sprintf("CRIU checkpointing failed -52.  Please check CRIU logfile %s/dump.log: Invalid exchange", dir)
		} else {
			low = fmt.Sprintf("criu failed: type DUMP errno 0\nlog file: %s/dump.log", dir)
		}
		// cri-o v1.34.0 internal/lib/checkpoint.go: "failed to checkpoint container %s: %w";
		// internal/oci/runtime_oci.go CheckpointContainer: "running %q %q failed: %w";
		// runtimeCmd: "`%v %v` failed: %v %v: %w".
		bin := "/usr/bin/" + p.OCIRuntime
		return fmt.Sprintf("failed to checkpoint container %s: running %q %q failed: `%s %s` failed: %s : exit status 1",
			id, bin, args, bin, strings.Join(args, " "), low)
	}
	// containerd v2.1.0 internal/cri/server/container_checkpoint_linux.go:
	// "checkpointing container %q failed: %w"; the runc shim: "OCI runtime checkpoint failed".
	return fmt.Sprintf("checkpointing container %q failed: OCI runtime checkpoint failed: criu failed: type DUMP errno 0\nlog file: %s/dump.log: unknown", id, containerdRoot(id))
}

// restoreFailedText is a failed `criu restore` as the runtime reports it at StartContainer.
func restoreFailedText(p Profile, id string) string {
	if p.Runtime == RuntimeCRIO {
		var low string
		if p.OCIRuntime == "crun" {
			// crun 1.23 src/libcrun/criu.c: "CRIU restoring failed %d.  Please check CRIU logfile `%s/%s`".
			low = fmt.Sprintf("CRIU restoring failed -1.  Please check CRIU logfile `%s/restore.log`", crioBundle(id))
		} else {
			low = fmt.Sprintf("criu failed: type RESTORE errno 0\nlog file: %s/restore.log", crioBundle(id))
		}
		// cri-o v1.34.0 internal/lib/restore.go: "failed to restore container %s: %w";
		// internal/oci/runtime_oci.go CreateContainer(restore): "container restore failed: %s".
		return fmt.Sprintf("failed to restore container %s: container restore failed: %s", id, low)
	}
	// containerd v2.1.0 internal/cri/server/container_start.go: "failed to restore containerd task: %w".
	return fmt.Sprintf("failed to restore containerd task: failed to create shim task: OCI runtime restore failed: criu failed: type RESTORE errno 0\nlog file: %s/checkpoint/restore.log: unknown", containerdRoot(id))
}

// baseMissingText: CRI-O resolves the base image ID in local storage only.
// cri-o v1.34.0 server/container_create.go → internal/storage/image.go ImageStatusByID →
// vendor/github.com/containers/image/v5/storage/storage_reference.go resolveImage:
// "reading image %q: %w" with containers/storage ErrImageUnknown "image not known".
func baseMissingText(id string) string {
	return fmt.Sprintf("reading image %q: image not known", id)
}

// basePullFailedText: containerd v2.1.0 internal/cri/server/container_checkpoint_linux.go:
// "failed to pull checkpoint base image %s: %w"; client/pull.go: "failed to resolve reference %q: %w".
func basePullFailedText(ref, cause string) string {
	return fmt.Sprintf("failed to pull checkpoint base image %s: failed to resolve reference %q: %s", ref, ref, cause)
}

// missingMountsText: cri-o v1.34.0 server/container_restore.go.
func missingMountsText(image string, missing []string) string {
	return fmt.Sprintf("restoring %q expects following bind mounts defined (%s)", image, strings.Join(missing, ","))
}

// readDumpText: cri-o v1.34.0 server/container_restore.go and containerd v2.1.0
// internal/cri/server/container_checkpoint_linux.go: "failed to read %q: %w".
func readDumpText(what string, cause string) string {
	return fmt.Sprintf("failed to read %q: %s", what, cause)
}
