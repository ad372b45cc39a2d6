// Keeps one kcr-pull Secret in every namespace that has checkpoints (or requests or schedules
// that will make them): created, rewritten each credential period, deleted when the namespace
// has none left. Its record (ConfigMap kcr-pull-secrets) tells the webhook where restored pods
// can pull. Token mode only; the decisions are planPullSecrets.
import type { Logger } from '../log.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import {
  PULL_SECRETS_RECORD, PULL_SECRET_LABEL, PULL_SECRET_NAME, formatPullSecretRecord, parsePullSecretRecord, planPullSecrets, type PullSecretEntry,
} from '../registry-access/pull-secret-plan.ts';
import { credentialEpoch, pullerCredential } from '../registry-access/registry-identity.ts';
import type { EventRecorder } from './events.ts';
import type { Meta, ObjectCache } from './object-cache.ts';
import { MANAGED_BY, deleteOwnSecret, upsertDockerConfigSecret } from './registry-token-secrets.ts';

export interface PullSecretKeeperDeps {
  api: KubeJson;
  cache: ObjectCache;
  events: EventRecorder;
  logger: Logger;
  /** kcr's namespace: the record lives there, and it never gets a pull Secret. */
  namespace: string;
  registry: string;
  rotationSeconds: number;
  /** Every so often each recorded Secret is read again (someone may have deleted or edited it). */
  verifyIntervalMs: number;
  credentialKey: () => Promise<Buffer>;
}

interface ConfigMapLike {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

/** Namespaces with a Checkpoint, CheckpointRequest or CheckpointSchedule, not terminating, not kcr's. */
export function namespacesNeedingPullSecrets(cache: ObjectCache, kcrNamespace: string): Set<string> {
  const out = new Set<string>();
  for (const kind of ['Checkpoint', 'CheckpointRequest', 'CheckpointSchedule'] as const) {
    for (const o of cache.list<Meta>(kind)) {
      const ns = o.metadata?.namespace;
      if (ns && ns !== kcrNamespace) out.add(ns);
    }
  }
  for (const ns of [...out]) {
    if (cache.get<Meta>('Namespace', '', ns)?.metadata?.deletionTimestamp) out.delete(ns);
  }
  return out;
}

export class PullSecretKeeper {
  readonly #d: PullSecretKeeperDeps;
  #lastVerify = 0;
  /**
   * The record as this keeper last read or wrote it: passes do not read it again (the leader is
   * its only writer). A verify reads it afresh; a failed write forgets it (a 409 means another
   * leader wrote meanwhile), so the next pass reads it.
   */
  #record: { cm: ConfigMapLike | undefined } | undefined;
  readonly #foreignSeen = new Set<string>();

  constructor(deps: PullSecretKeeperDeps) {
    this.#d = deps;
  }

  async sync(now: Date): Promise<void> {
    const d = this.#d;
    const path = `/api/v1/namespaces/${d.namespace}/configmaps`;
    const verify = now.getTime() - this.#lastVerify >= d.verifyIntervalMs;
    if (verify || this.#record === undefined) {
      let read: ConfigMapLike | undefined;
      try {
        read = await d.api.get<ConfigMapLike>(`${path}/${PULL_SECRETS_RECORD}`);
      } catch (err) {
        if (apiCode(err) !== 404) throw err;
      }
      this.#record = { cm: read };
    }
    const cm = this.#record.cm;
    // Every pass: the key is cached, and on the way kcr's writer Secret is kept (the agents need it first).
    const key = await d.credentialKey();
    const recorded = parsePullSecretRecord(cm?.data);
    const desired = namespacesNeedingPullSecrets(d.cache, d.namespace);
    const epoch = credentialEpoch(now, d.rotationSeconds);
    const plan = planPullSecrets(desired, recorded, epoch);
    const write = verify ? [...desired].sort() : plan.write;
    if (write.length === 0 && plan.remove.length === 0) return;

    const next = new Map<string, PullSecretEntry>(recorded);
    let failed = false;
    for (const ns of write) {
      try {
        const outcome = await upsertDockerConfigSecret(d.api, {
          namespace: ns, name: PULL_SECRET_NAME, label: PULL_SECRET_LABEL,
          annotations: { 'kcr.io/credential-period': String(epoch) },
        }, d.registry, pullerCredential(key, ns, epoch));
        if (outcome === 'foreign') {
          next.delete(ns);
          if (!this.#foreignSeen.has(ns)) {
            this.#foreignSeen.add(ns);
            d.logger.warn({ namespace: ns, secret: PULL_SECRET_NAME }, `namespace ${ns} has a Secret ${PULL_SECRET_NAME} kcr did not make: pods there are not restored (reason no-pull-secret) until it is renamed`);
            void d.events.event({ apiVersion: 'v1', kind: 'Namespace', namespace: '', name: ns }, 'Warning', 'PullSecretTaken',
              `a Secret named ${PULL_SECRET_NAME} exists that kcr did not make; kcr will not overwrite it, so pods here are not restored from checkpoints`);
          }
          continue;
        }
        this.#foreignSeen.delete(ns);
        next.set(ns, { epoch, rotationSeconds: d.rotationSeconds });
        if (outcome !== 'unchanged') d.logger.info({ namespace: ns, secret: PULL_SECRET_NAME, outcome, period: epoch }, 'pull secret written');
      } catch (err) {
        failed = true;
        // 403/404 for a namespace going away, or the API server down: next pass tries again.
        d.logger.warn({ namespace: ns, secret: PULL_SECRET_NAME, code: apiCode(err), err }, 'pull secret not written');
      }
    }
    for (const ns of plan.remove) next.delete(ns);
    if (verify && !failed) this.#lastVerify = now.getTime();

    // The record before deleting: the webhook must stop adding a Secret about to go.
    const body = {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: PULL_SECRETS_RECORD, namespace: d.namespace, labels: { ...MANAGED_BY }, ...(cm?.metadata?.resourceVersion ? { resourceVersion: cm.metadata.resourceVersion } : {}) },
      data: formatPullSecretRecord(next),
    };
    try {
      if (cm === undefined) this.#record = { cm: await d.api.create<ConfigMapLike>(path, body) };
      else if (JSON.stringify(cm.data ?? {}) !== JSON.stringify(body.data)) this.#record = { cm: await d.api.replace<ConfigMapLike>(`${path}/${PULL_SECRETS_RECORD}`, body) };
    } catch (err) {
      this.#record = undefined;
      throw err;
    }

    for (const ns of plan.remove) {
      try {
        const outcome = await deleteOwnSecret(d.api, ns, PULL_SECRET_NAME, PULL_SECRET_LABEL);
        d.logger.info({ namespace: ns, secret: PULL_SECRET_NAME, outcome }, 'pull secret removed: no checkpoints left in the namespace');
      } catch (err) {
        d.logger.warn({ namespace: ns, secret: PULL_SECRET_NAME, code: apiCode(err), err }, 'pull secret not deleted');
      }
    }
  }
}
