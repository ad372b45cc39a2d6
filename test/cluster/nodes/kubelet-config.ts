// The KubeletConfiguration every local node runs with (pure: paths and addresses in, object out).
// Settings a cluster administrator would choose for this host, each with its reason; nothing
// here changes what the kubelet does with pods, images or checkpoints.
export interface KubeletConfigInput {
  /** The node's address inside the nodes' network namespace: the kubelet serves there. */
  address: string;
  port: number;
  /** unix:// endpoint of the node's container runtime (the simulator). */
  runtimeEndpoint: string;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  /** CA the API server's kubelet-client certificate is verified against. */
  clientCaFile: string;
  podLogsDir: string;
}

export function kubeletConfiguration(i: KubeletConfigInput): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: i.address,
    port: i.port,
    readOnlyPort: 0,
    // Several kubelets share the namespace's loopback: no fixed healthz port.
    healthzPort: 0,
    tlsCertFile: i.tlsCertFile,
    tlsPrivateKeyFile: i.tlsPrivateKeyFile,
    // As on a kubeadm node: callers are authenticated by the API server (x509 or TokenReview)
    // and authorised by SubjectAccessReview; nodes/checkpoint is checked by the kubelet itself.
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: i.clientCaFile } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: i.runtimeEndpoint,
    imageServiceEndpoint: i.runtimeEndpoint,
    podLogsDir: i.podLogsDir,
    cgroupDriver: 'cgroupfs',
    // This host is cgroup v1 and has swap settings the kubelet would refuse by default.
    failCgroupV1: false,
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    // Several kubelets share one host: only starve-the-machine thresholds evict.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    serializeImagePulls: false,
    // Crash-looping containers come back within 10 s instead of up to 5 min (KubeletCrashLoopBackOffMax, beta).
    crashLoopBackOff: { maxContainerRestartPeriod: '10s' },
    shutdownGracePeriod: '0s',
    clusterDomain: 'cluster.local',
    kubeAPIQPS: 50,
    kubeAPIBurst: 100,
  };
}
