// The runtimes' own texts (CRI-O 1.29/1.34, containerd 2.1/2.3.4/2.4, as test/cluster/cri-sim
// words them after their sources), each judged by cause.
import { describe, expect, it } from 'vitest';
import { restoreFailureCause, type RestoreFailureKind } from '../../../src/restore/restore-failure-cause.ts';

const id = 'a'.repeat(64);

describe('restoreFailureCause', () => {
  it.each<[string, string, string, RestoreFailureKind]>([
    // The node cannot restore: restore off or removed, the image is run as an ordinary one.
    ['CRI-O 1.29 (restore off), no command', 'CreateContainerError', 'no command specified', 'node'],
    ['containerd 2.4, no command', 'CreateContainerError', 'no command specified', 'node'],
    ['CRI-O 1.34 with restore off, pod command', 'CreateContainerError', 'container create failed: executable file `/app` not found: No such file or directory', 'node'],
    ['CRI-O 1.34 with restore off, a command from $PATH', 'CreateContainerError', 'container create failed: executable file `sh` not found in $PATH: No such file or directory', 'node'],
    ['CRI-O 1.29, runc, a command from $PATH', 'CreateContainerError', 'container create failed: runc create failed: unable to start container process: exec: "sh": executable file not found in $PATH', 'node'],
    ['CRI-O 1.29, runc', 'CreateContainerError', 'container create failed: runc create failed: unable to start container process: exec: "/app": stat /app: no such file or directory', 'node'],
    ['containerd, runc at start', 'RunContainerError', 'failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: "/app": stat /app: no such file or directory: unknown', 'node'],
    ['containerd 2.3.4, switch off', 'CreateContainerError', 'checkpoint restore via CreateContainer is disabled by configuration', 'node'],
    // The other runtime's archive.
    ['containerd archive on CRI-O 1.34', 'CreateContainerError', 'failed to read "io.kubernetes.cri-o.Annotations": unexpected end of JSON input', 'node'],
    ['containerd archive on CRI-O 1.29', 'CreateContainerError', 'failed to read "io.kubernetes.cri-o.Metadata": unexpected end of JSON input', 'node'],
    ['CRI-O archive on containerd', 'CreateContainerError', 'failed to read "status.dump": open /tmp/checkpoint1/status.dump: no such file or directory', 'node'],
    // The base image.
    ['CRI-O, base image not on the node', 'CreateContainerError', `reading image "${id}": image not known`, 'node'],
    ['containerd, anonymous base pull denied', 'CreateContainerError', 'failed to pull checkpoint base image docker.io/library/app@sha256:1: failed to resolve reference "docker.io/library/app@sha256:1": unexpected status from HEAD request to https://x/v2/app/manifests/sha256:1: 401 Unauthorized', 'node'],
    ['CRI-O ≥ 1.32, mounts not declared again', 'CreateContainerError', 'restoring "reg/kcr/ns/db-0@sha256:1" expects following bind mounts defined (/data)', 'node'],
    // CRIU itself.
    ['CRI-O, criu restore failed', 'RunContainerError', 'failed to restore container 0123: container restore failed: CRIU restoring failed -1. Please check CRIU logfile /var/run/containers/storage/overlay-containers/0123/userdata/restore.log', 'criu'],
    ['CRI-O 1.29 with runc', 'RunContainerError', 'failed to restore container 0123: container restore failed: criu failed: type RESTORE errno 0', 'criu'],
    ['containerd, task restore', 'RunContainerError', 'failed to restore containerd task: OCI runtime restore failed: criu failed: type RESTORE errno 0', 'criu'],
    // Anything else the runtime says when it tried.
    ['an unknown runtime error', 'CreateContainerError', 'something else went wrong', 'runtime'],
    ['no message at all', 'RunContainerError', '', 'runtime'],
    // Pulling the checkpoint image.
    ['manifest unknown', 'ErrImagePull', 'initializing source docker://reg/kcr/ns/db-0@sha256:1: reading manifest sha256:1 in reg/kcr/ns/db-0: manifest unknown', 'image-gone'],
    ['containerd not found', 'ImagePullBackOff', 'failed to pull and unpack image "reg/x@sha256:1": failed to resolve reference "reg/x@sha256:1": reg/x@sha256:1: not found', 'image-gone'],
    ['authentication required', 'ErrImagePull', 'initializing source docker://reg/x:1: reading manifest 1 in reg/x: authentication required', 'pull'],
    ['network', 'ImagePullBackOff', 'pinging container registry reg: Get "https://reg/v2/": dial tcp: connection refused', 'pull'],
  ])('%s → %s', (_what, reason, message, kind) => {
    expect(restoreFailureCause(reason, message)?.kind).toBe(kind);
  });

  it.each([
    ['ContainerCreating', ''],
    ['CreateContainerConfigError', 'configmap "x" not found'],
    ['CrashLoopBackOff', 'back-off 10s restarting failed container=app pod=db-0'],
  ])('%s is no failed restore', (reason, message) => {
    expect(restoreFailureCause(reason, message)).toBeUndefined();
  });

  it('a back-off that still carries the runtime’s words keeps their cause', () => {
    expect(restoreFailureCause('CrashLoopBackOff', 'no command specified')?.kind).toBe('node');
  });
});
