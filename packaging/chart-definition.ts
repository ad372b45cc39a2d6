// What the Helm chart lets a user set, and where each value lands in the objects kustomize
// renders from manifests/. Every value has a default that reproduces manifests/ (read from the
// rendered objects where they carry one), so `helm template` with the defaults gives the objects
// of dist/install.yaml (test/unit/dist.test.ts compares them object by object).
//
// Pure: rendered objects in, templates and the values' documentation out.
import { either, templateObject, when, type Edit, type K8sObject } from './chart-template.ts';

export interface ChartValue {
  /** Dotted path in values.yaml. */
  key: string;
  default: unknown;
  description: string;
}

export interface ChartSources {
  /** `kubectl kustomize manifests` (the default install). */
  base: K8sObject[];
  /** `kubectl kustomize manifests/overlays/cert-manager`. */
  certManager: K8sObject[];
  /** `kubectl kustomize manifests/monitoring`. */
  monitoring: K8sObject[];
}

export interface ChartParts {
  /** File name under templates/ → text. */
  templates: Map<string, string>;
  values: ChartValue[];
}

/** kcr's own namespace in the manifests; the chart puts the release namespace everywhere instead. */
export const MANIFEST_NAMESPACE = 'kcr-system';

const id = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const component = (o: K8sObject) => ((o.metadata.labels as Record<string, string> | undefined) ?? {})['app.kubernetes.io/component'];
const isRedis = (o: K8sObject) => ((o.metadata.labels as Record<string, string> | undefined) ?? {})['app.kubernetes.io/name'] === 'kcr-redis' || o.metadata.name.startsWith('kcr-redis-config');

/** Strings that hold `{{ }}` of their own (alert annotations, dashboard queries) reach the output as they are, not as Helm's. */
function literalBraces<T>(value: T): T {
  if (typeof value === 'string') return value.replace(/\{\{|\}\}/g, (m) => `{{\`${m}\`}}`) as T;
  if (Array.isArray(value)) return value.map(literalBraces) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literalBraces(v)])) as T;
  return value;
}

/** kcr's workloads, by the values section that configures them. */
const WORKLOADS: Record<string, { kind: string; name: string; container: string; kcrImage: boolean }> = {
  webhook: { kind: 'Deployment', name: 'kcr-webhook', container: 'webhook', kcrImage: true },
  controller: { kind: 'Deployment', name: 'kcr-controller', container: 'controller', kcrImage: true },
  agent: { kind: 'DaemonSet', name: 'kcr-agent', container: 'agent', kcrImage: true },
  tokenService: { kind: 'Deployment', name: 'kcr-token-service', container: 'token-service', kcrImage: true },
  redis: { kind: 'StatefulSet', name: 'kcr-redis', container: 'redis', kcrImage: false },
};

type Json = Record<string, unknown>;

function at(obj: unknown, path: string): unknown {
  let here: unknown = obj;
  for (const part of path.split(/\.(?![^[]*\])/)) {
    const m = /^([^[]+)(?:\[([^=\]]+)=([^\]]*)\])?$/.exec(part)!;
    here = (here as Json | undefined)?.[m[1]!];
    if (m[2] !== undefined) here = (here as Json[] | undefined)?.find((i) => String(i[m[2]!]) === m[3]);
  }
  return here;
}

/** The chart's templates and values for these renderings of manifests/. */
export function chartParts(sources: ChartSources): ChartParts {
  const values: ChartValue[] = [];
  const value = (key: string, def: unknown, description: string) => {
    if (!values.some((v) => v.key === key)) values.push({ key, default: def, description });
    return `.Values.${key}`;
  };

  value('image.repository', 'kcr', 'The kcr image (built from the Dockerfile): the one thing besides registry.host you must set.');
  value('image.tag', '', "Tag of the kcr image; empty: the chart's appVersion.");
  value('image.digest', '', 'sha256:… digest of the kcr image; when set it wins over the tag.');
  value('image.pullPolicy', 'IfNotPresent', 'imagePullPolicy of every kcr container.');
  value('imagePullSecrets', [], 'Pull Secrets ([{name: …}]) for the kcr image, on every kcr pod.');
  value('registry.host', '', "REQUIRED. host[:port] of the registry checkpoint images go to (KCR_REGISTRY). The nodes' container runtime must resolve and trust it; kcr ships none.");
  value('registry.prefix', 'kcr', 'Repository prefix: <host>/<prefix>/<namespace>/<identity> (KCR_REGISTRY_PREFIX).');
  value('registry.insecure', '', 'Comma-separated host:port (HTTPS unverified) or http://host:port (plain HTTP) (KCR_INSECURE_REGISTRIES).');
  value('registry.caSecret', '', 'A Secret (key ca.crt) with the CA the registry is checked against; mounted into agent and controller (KCR_REGISTRY_CA_FILE).');
  value('registry.auth', 'token', 'token: kcr issues registry access (its token service, a kcr-pull Secret per namespace); static: you provide the credentials Secret and the pull Secrets (KCR_REGISTRY_AUTH).');
  value('registry.existingSecret', 'kcr-registry', 'The dockerconfigjson Secret with kcr\'s push/delete credential (static mode: yours; token mode: the controller writes it) (KCR_REGISTRY_SECRET).');
  value('registry.pullCredentialRotationSeconds', 86400, 'How often pull credentials rotate; the controller and the token service share it (KCR_PULL_CREDENTIAL_ROTATION_SECONDS).');
  value('redis.bundled', true, 'Run the single Redis of manifests/ (redis/); false: use redis.url.');
  value('redis.url', '', 'redis://host:port or rediss://host:port of an external Redis (no password in it). Empty: the bundled one.');
  value('redis.passwordSecret', 'kcr-redis', "An existing Secret whose key password is Redis' password (you create it; README \"Redis\").");
  value('redis.tls.caSecret', '', 'A Secret (key ca.crt) with the CA Redis\' TLS certificate is checked against (rediss:// only; KCR_REDIS_CA_FILE).');
  value('certificates.source', 'kcr', 'kcr: the webhook makes and rotates its own CA and serving certificate; cert-manager: a cert-manager Certificate (cert-manager installed separately).');
  value('settings', {}, 'Any KCR_* setting of the README\'s settings table, for every component (the kcr-settings ConfigMap); a component\'s own env (e.g. webhook.extraEnv) wins.');
  value('metrics.serviceMonitor.enabled', false, "prometheus-operator ServiceMonitors for webhook, controller and agents (their kcr-*-metrics Services, port 8080).");
  value('metrics.prometheusRule.enabled', false, "The alert rules (PrometheusRule) of manifests/monitoring.");
  value('metrics.dashboard.enabled', false, 'The Grafana dashboard as a ConfigMap labelled grafana_dashboard=1.');
  value('crds.keep', true, 'Keep the CRDs (and so every Checkpoint and schedule) on helm uninstall (helm.sh/resource-policy: keep).');

  const workloadOf = (o: K8sObject) => Object.entries(WORKLOADS).find(([, w]) => w.kind === o.kind && w.name === o.metadata.name)?.[0];

  function workloadEdits(o: K8sObject): Edit[] {
    const section = workloadOf(o);
    if (!section) return [];
    const w = WORKLOADS[section]!;
    const pod = 'spec.template.spec';
    const c = `${pod}.containers[name=${w.container}]`;
    const edits: Edit[] = [];
    const has = (path: string) => at(o, path) !== undefined;
    if (has('spec.replicas')) edits.push({ op: 'scalar', path: 'spec.replicas', expr: value(`${section}.replicas`, at(o, 'spec.replicas'), `Replicas of ${w.name}.`) });
    if (w.kcrImage) {
      edits.push({ op: 'scalar', path: `${c}.image`, expr: 'include "kcr.image" . | quote' });
      edits.push({ op: 'scalar', path: `${c}.imagePullPolicy`, expr: '.Values.image.pullPolicy' });
      edits.push({ op: 'optional', path: `${pod}.imagePullSecrets`, expr: '.Values.imagePullSecrets', shape: 'block' });
    } else {
      edits.push({ op: 'scalar', path: `${c}.image`, expr: `${value(`${section}.image`, at(o, `${c}.image`), `Image of ${w.name}.`)} | quote` });
    }
    edits.push({ op: 'block', path: `${c}.resources`, expr: value(`${section}.resources`, at(o, `${c}.resources`), `Resources of the ${w.container} container.`) });
    for (const [field, what] of [['nodeSelector', 'nodeSelector'], ['tolerations', 'tolerations'], ['affinity', 'affinity']] as const) {
      const path = `${pod}.${field}`;
      if (has(path)) edits.push({ op: 'block', path, expr: value(`${section}.${field}`, at(o, path), `${what} of ${w.name}'s pods.`) });
      else edits.push({ op: 'optional', path, expr: value(`${section}.${field}`, field === 'tolerations' ? [] : {}, `${what} of ${w.name}'s pods.`), shape: 'block' });
    }
    edits.push({ op: 'optional', path: `${pod}.priorityClassName`, expr: value(`${section}.priorityClassName`, '', `priorityClassName of ${w.name}'s pods.`), shape: 'string' });
    if (has(`${c}.env[name=KCR_LOG_LEVEL]`)) {
      edits.push({ op: 'scalar', path: `${c}.env[name=KCR_LOG_LEVEL].value`, expr: `${value(`${section}.logLevel`, at(o, `${c}.env[name=KCR_LOG_LEVEL].value`), `Log level of ${w.name} (trace, debug, info, warn, error).`)} | quote` });
    }
    if (has(`${c}.env`)) edits.push({ op: 'append', path: `${c}.env`, expr: value(`${section}.extraEnv`, [], `More env entries for ${w.name} (any KCR_* setting, just for it).`) });
    if (has(`${pod}.volumes[name=redis-password]`)) edits.push({ op: 'scalar', path: `${pod}.volumes[name=redis-password].secret.secretName`, expr: '.Values.redis.passwordSecret | quote' });
    const caMounts: [string, string, string][] = [];
    if (section === 'controller' || section === 'agent') {
      caMounts.push(['registry-ca', '.Values.registry.caSecret', '/etc/kcr/registry-ca'], ['redis-ca', '.Values.redis.tls.caSecret', '/etc/kcr/redis-ca']);
      edits.push({ op: 'appendText', path: `${c}.env`, text: [
        '{{- if .Values.registry.caSecret }}', '- name: KCR_REGISTRY_CA_FILE', '  value: /etc/kcr/registry-ca/ca.crt', '{{- end }}',
        '{{- if .Values.redis.tls.caSecret }}', '- name: KCR_REDIS_CA_FILE', '  value: /etc/kcr/redis-ca/ca.crt', '{{- end }}',
      ].join('\n') });
    }
    for (const [name, secret, mountPath] of caMounts) {
      edits.push({ op: 'appendText', path: `${c}.volumeMounts`, text: [`{{- if ${secret} }}`, `- name: ${name}`, `  mountPath: ${mountPath}`, '  readOnly: true', '{{- end }}'].join('\n') });
      edits.push({ op: 'appendText', path: `${pod}.volumes`, text: [`{{- if ${secret} }}`, `- name: ${name}`, '  secret:', `    secretName: {{ ${secret} | quote }}`, '{{- end }}'].join('\n') });
    }
    if (section === 'agent') {
      for (const [volume, what] of [['checkpoints', "the kubelet's checkpoint folder"], ['crio-config', "CRI-O's configuration"], ['containerd-config', "containerd's configuration"]] as const) {
        const path = `${pod}.volumes[name=${volume}].hostPath.path`;
        if (has(path)) edits.push({ op: 'scalar', path, expr: `${value(`agent.hostPaths.${volume.replace(/-config$/, '')}`, at(o, path), `Where the node keeps ${what} (hostPath).`)} | quote` });
      }
    }
    return edits;
  }

  function settingsEdits(o: K8sObject): Edit[] {
    if (o.kind !== 'ConfigMap' || o.metadata.name !== 'kcr-settings') return [];
    return [
      { op: 'scalar', path: 'data.KCR_REGISTRY', expr: 'required "registry.host is required: the registry (host[:port]) checkpoint images go to, one the nodes\' container runtime resolves and trusts" .Values.registry.host | quote' },
      { op: 'scalar', path: 'data.KCR_REGISTRY_PREFIX', expr: '.Values.registry.prefix | quote' },
      { op: 'scalar', path: 'data.KCR_INSECURE_REGISTRIES', expr: '.Values.registry.insecure | quote' },
      { op: 'scalar', path: 'data.KCR_REGISTRY_AUTH', expr: '.Values.registry.auth | quote' },
      { op: 'scalar', path: 'data.KCR_PULL_CREDENTIAL_ROTATION_SECONDS', expr: '.Values.registry.pullCredentialRotationSeconds | toString | quote' },
      { op: 'scalar', path: 'data.KCR_REDIS_URL', expr: 'include "kcr.redisUrl" . | quote' },
      { op: 'mapText', path: 'data', text: [
        '{{- if ne .Values.registry.existingSecret "kcr-registry" }}', 'KCR_REGISTRY_SECRET: {{ .Values.registry.existingSecret | quote }}', '{{- end }}',
        '{{- range $k, $v := .Values.settings }}', '{{ $k }}: {{ $v | toString | quote }}', '{{- end }}',
      ].join('\n') },
    ];
  }

  function edits(o: K8sObject): Edit[] {
    const out = [...workloadEdits(o), ...settingsEdits(o)];
    if (o.kind === 'Certificate') out.push({ op: 'block', path: 'spec.issuerRef', expr: value('certificates.certManager.issuerRef', at(o, 'spec.issuerRef'), 'The cert-manager issuer of the webhook certificate; the default is a self-signed Issuer the chart makes.') });
    // Helm does not make kcr's namespace, so it lacks the label kcr.io/restore=disabled that keeps
    // the webhook out of it under kustomize: the chart leaves it out by name too.
    if (o.kind === 'MutatingWebhookConfiguration') out.push({ op: 'block', path: 'webhooks[name=restore.kcr.io].namespaceSelector.matchExpressions[key=kubernetes.io/metadata.name].values', expr: 'list "kube-system" .Release.Namespace' });
    if (o.kind === 'CustomResourceDefinition') out.push({ op: 'optional', path: 'metadata.annotations', expr: 'ternary (dict "helm.sh/resource-policy" "keep") dict .Values.crds.keep', shape: 'block' });
    return out;
  }

  /** Where the text names kcr's namespace or its credentials Secret, the chart's values instead. */
  function finish(o: K8sObject, text: string): string {
    let t = text.replaceAll(MANIFEST_NAMESPACE, '{{ .Release.Namespace }}');
    if (['Role', 'ClusterRole', 'ValidatingAdmissionPolicy'].includes(o.kind)) t = t.replace(/kcr-registry(?![-\w])/g, '{{ .Values.registry.existingSecret }}');
    return t;
  }

  const render = (o: K8sObject) => finish(o, templateObject(literalBraces(o), edits(o)));
  const condition = (o: K8sObject): string | undefined => {
    if (isRedis(o)) return '.Values.redis.bundled';
    if (component(o) === 'token-service' && o.kind !== 'ServiceAccount') return 'eq .Values.registry.auth "token"';
    return undefined;
  };

  const templates = new Map<string, string>();
  const add = (file: string, text: string) => templates.set(file, (templates.get(file) ?? '') + (templates.has(file) ? '---\n' : '') + text);
  const certManager = new Map(sources.certManager.map((o) => [id(o), o]));
  const base = new Map(sources.base.map((o) => [id(o), o]));
  const fileOf = (o: K8sObject) => {
    if (o.kind === 'CustomResourceDefinition') return 'crds.yaml';
    if (isRedis(o)) return 'redis.yaml';
    const c = component(o);
    if (['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount'].includes(o.kind)) return 'rbac.yaml';
    if (o.kind.startsWith('ValidatingAdmissionPolicy')) return 'policies.yaml';
    return `${c ?? o.kind.toLowerCase()}.yaml`;
  };
  const certManagerOn = 'eq .Values.certificates.source "cert-manager"';
  for (const o of sources.base) {
    // The release's namespace is Helm's (helm install -n … --create-namespace), not the chart's.
    if (o.kind === 'Namespace') continue;
    const other = certManager.get(id(o));
    const a = render(o);
    let text = other && JSON.stringify(other) !== JSON.stringify(o) ? either(certManagerOn, render(other), a) : a;
    if (!other) text = when(`not (${certManagerOn})`, text);
    const cond = condition(o);
    add(fileOf(o), cond ? when(cond, text) : text);
  }
  for (const o of sources.certManager) {
    if (base.has(id(o)) || o.kind === 'Namespace') continue;
    add('cert-manager.yaml', when(certManagerOn, render(o)));
  }
  const monitoringSwitch: Record<string, string> = {
    ServiceMonitor: '.Values.metrics.serviceMonitor.enabled',
    PrometheusRule: '.Values.metrics.prometheusRule.enabled',
    ConfigMap: '.Values.metrics.dashboard.enabled',
  };
  for (const o of sources.monitoring) {
    const sw = monitoringSwitch[o.kind];
    if (!sw) continue;
    add('monitoring.yaml', when(sw, render(o)));
  }
  return { templates, values };
}

export const HELPERS = `{{/* The kcr image: repository@digest, or repository:tag (default the chart's appVersion). */}}
{{- define "kcr.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* Redis for the queues: the bundled one (same namespace, the Service's short name) or redis.url. */}}
{{- define "kcr.redisUrl" -}}
{{- if .Values.redis.url -}}
{{ .Values.redis.url }}
{{- else if .Values.redis.bundled -}}
redis://kcr-redis:6379
{{- else -}}
{{ fail "redis.url is required when redis.bundled is false" }}
{{- end -}}
{{- end }}
`;
