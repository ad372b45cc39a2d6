// Kubernetes Events for what a user should see on their objects (`kubectl describe`): invalid
// schedules, failed fires, retention deletions. Repeats of the same event are counted in memory
// and not written again within `repeatWindowMs`, so a reconcile loop never floods the API server.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  /** '' for a cluster-scoped object (a Node): its Events go to `default`, as the kubelet's do. */
  namespace: string;
  name: string;
  uid?: string;
}

export interface EventRecorder {
  event(obj: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function kubeEventRecorder(api: KubeJson, logger: Logger, options: { component?: string; host?: string; repeatWindowMs?: number } = {}): EventRecorder {
  const component = options.component ?? 'kcr-controller';
  const window = options.repeatWindowMs ?? 10 * 60_000;
  const recent = new Map<string, number>();
  return {
    async event(obj, type, reason, message) {
      const key = JSON.stringify([obj.namespace, obj.kind, obj.name, obj.uid, type, reason, message]);
      const now = Date.now();
      const last = recent.get(key);
      if (last !== undefined && now - last < window) return;
      if (recent.size > 10_000) recent.clear();
      recent.set(key, now);
      const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const name = `${obj.name}.${now.toString(16)}${randomBytes(3).toString('hex')}`.slice(-253).replace(/^[^a-z0-9]+/, '');
      const namespace = obj.namespace === '' ? 'default' : obj.namespace;
      try {
        await api.create(`/api/v1/namespaces/${namespace}/events`, {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace },
          involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, ...(obj.namespace ? { namespace: obj.namespace } : {}), name: obj.name, ...(obj.uid ? { uid: obj.uid } : {}) },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component, ...(options.host ? { host: options.host } : {}) },
          reportingComponent: component,
          reportingInstance: options.host ?? component,
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        });
      } catch (err) {
        // Events are best effort: a failure is logged, never fatal.
        recent.delete(key);
        logger.warn({ err, code: apiCode(err), namespace: obj.namespace, kind: obj.kind, name: obj.name, reason }, 'could not record an Event');
      }
    },
  };
}
