// Leader election through a coordination.k8s.io/v1 Lease, as client-go does it: try every
// retryPeriod; the holder renews, the others wait for it to expire. Writes carry the
// resourceVersion read, so two replicas racing for an expired Lease cannot both win (409: lost).
// The leader steps down when it could not renew within renewDeadline (before its Lease can
// expire and a standby takes over), so two leaders never overlap by more than clock skew.
import type { Logger } from '../log.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import { microTime, nextLeaseSpec, shouldAcquire, type LeaseLike } from './lease-decision.ts';

export interface LeaseElectionOptions {
  api: KubeJson;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationSeconds?: number;
  /** Leader: give up after not renewing for this long. Must be < leaseDuration. */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  /** Campaign only while this is true (e.g. Redis reachable): a leader that cannot work should not hold the Lease. */
  eligible?: () => boolean;
  now?: () => Date;
  /** Called after every round of the election loop (its heartbeat). */
  onRound?: () => void;
}

export class LeaseElection {
  readonly #o: Required<Omit<LeaseElectionOptions, 'eligible' | 'now' | 'onRound'>> & { eligible: () => boolean; now: () => Date; onRound: () => void };
  #leading = false;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  #lease: LeaseLike | undefined;

  constructor(options: LeaseElectionOptions) {
    this.#o = {
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 5_000,
      eligible: () => true,
      now: () => new Date(),
      onRound: () => {},
      ...options,
    };
  }

  get leading(): boolean {
    return this.#leading;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases/${this.#o.name}`;
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tryOnce().finally(() => {
        this.#running = undefined;
        this.#o.onRound();
        this.#schedule(this.#o.retryPeriodMs);
      });
    }, ms);
  }

  async #tryOnce(): Promise<void> {
    const { api, identity, logger } = this.#o;
    try {
      if (!this.#o.eligible()) {
        if (this.#leading) {
          logger.warn({}, 'not eligible to lead (dependencies unavailable): releasing the lease');
          await this.release();
        }
        return;
      }
      let lease: LeaseLike | undefined;
      try {
        lease = await api.get<LeaseLike>(this.#path);
      } catch (err) {
        if (apiCode(err) !== 404) throw err;
      }
      const now = this.#o.now();
      const decision = shouldAcquire(lease, identity, now);
      if (decision.action === 'wait') {
        if (this.#leading) this.#stepDown('another replica holds the lease');
        return;
      }
      const spec = nextLeaseSpec(lease, identity, now, this.#o.leaseDurationSeconds);
      if (decision.action === 'create') {
        this.#lease = await api.create<LeaseLike>(`/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec,
        });
      } else {
        this.#lease = await api.replace<LeaseLike>(this.#path, { ...lease, spec });
      }
      this.#lastRenew = Date.now();
      if (!this.#leading) {
        this.#leading = true;
        logger.info({ lease: this.#o.name, identity, previousHolder: decision.action === 'acquire' ? decision.previousHolder : undefined },
          'became leader');
        this.#o.onStartedLeading();
      }
    } catch (err) {
      const code = apiCode(err);
      // 409: another replica wrote the Lease between our read and write; it won this round.
      if (code !== 409) logger.warn({ err, code, lease: this.#o.name }, 'lease election call failed');
      if (this.#leading && (code === 409 || Date.now() - this.#lastRenew > this.#o.renewDeadlineMs)) {
        this.#stepDown(code === 409 ? 'lost the lease to another replica' : 'could not renew the lease in time');
      }
    }
  }

  #stepDown(why: string): void {
    this.#leading = false;
    this.#o.logger.warn({ lease: this.#o.name, why }, 'stopped leading');
    this.#o.onStoppedLeading();
  }

  /** Gives the Lease up (shutdown, or not eligible): the standby takes over at once instead of after expiry. */
  async release(): Promise<void> {
    const wasLeading = this.#leading;
    if (wasLeading) this.#stepDown('released');
    const lease = this.#lease;
    this.#lease = undefined;
    if (!wasLeading || lease?.spec?.holderIdentity !== this.#o.identity) return;
    try {
      await this.#o.api.replace(this.#path, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.#o.now()) },
      });
    } catch (err) {
      // 409: it changed meanwhile (renewed by us in flight, or taken): nothing to release.
      this.#o.logger.warn({ err, code: apiCode(err) }, 'could not release the lease; it expires by itself');
    }
  }

  /** Stops campaigning and releases the Lease if held. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.release();
  }
}
