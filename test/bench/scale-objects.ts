// The bench's objects, shared by scale.bench.ts and its admission load worker: ordinary pods as
// clusters hold them, in the bench's namespaces.
export const PREFIX = 'kcr-scale';
export const GATE = 'kcr.io/bench-hold';
export const IMAGE = 'registry.k8s.io/pause:3.10';

export const nsName = (i: number) => `${PREFIX}-${i}`;
export const podName = (i: number) => `app-${i}`;

/**
 * An ordinary pod as clusters hold them (about 5.9 KB as the API serves it, the size issue 13
 * measured): two containers with env, ports, probes, resources and mounts, a handful of labels,
 * and kubectl's last-applied annotation. Held by a scheduling gate so nothing runs it.
 */
export function podBody(i: number, name = podName(i)) {
  const container = (cname: string, port: number) => ({
    name: cname,
    image: IMAGE,
    ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
    env: [
      { name: 'INDEX', value: String(i) },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'SERVICE_NAME', value: `app-${i % 50}` },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'GOMAXPROCS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1' } } },
    ],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    readinessProbe: { httpGet: { path: '/healthz', port }, periodSeconds: 10 },
    livenessProbe: { httpGet: { path: '/healthz', port }, periodSeconds: 20, initialDelaySeconds: 10 },
    volumeMounts: [{ name: 'config', mountPath: '/etc/app', readOnly: true }, { name: 'cache', mountPath: '/var/cache/app' }],
  });
  const metadata = {
    name,
    labels: { app: `app-${i % 50}`, tier: i % 2 === 0 ? 'web' : 'worker', 'kcr-bench': 'scale', 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/version': '1.4.2', team: `team-${i % 7}` },
  };
  const spec = {
    schedulingGates: [{ name: GATE }],
    containers: [container('app', 8080), container('sidecar', 9090)],
    volumes: [{ name: 'config', configMap: { name: 'app-config' } }, { name: 'cache', emptyDir: { sizeLimit: '256Mi' } }],
    terminationGracePeriodSeconds: 30,
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...metadata, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: metadata.labels }, spec: { containers: spec.containers.map((c) => ({ name: c.name, image: c.image })) } }) } },
    spec,
  };
}

