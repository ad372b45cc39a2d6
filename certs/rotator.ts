// Timer-driven shell: every check makes sure the Secret holds a good bundle
// (renewing at 2/3 of its life), republishes the CA into the webhook
// configuration, and announces a new serving pair when the Secret changed
// (renewed here, or by another replica).
import type { Logger } from '../src/log.ts';
import type { CertificateBundle } from './bundle.ts';
import { KeyPairListeners, type ServingCertificateSource, type ServingKeyPair } from './key-pair.ts';
import { renewalTime } from './renewal.ts';
import { realTimers, type Timers } from './timers.ts';

export interface CertificateRotatorOptions {
  /** Returns the bundle to serve, renewing it when due (ensureServingCertificate, bound). */
  ensure: () => Promise<CertificateBundle>;
  /** Puts the CA into the webhook configuration (publishCaBundle, bound); omitted in tests or when someone else injects it. */
  publishCa?: (caCert: string) => Promise<unknown>;
  /** Called after the served bundle changed (not for the first one). */
  onRotate?: (bundle: CertificateBundle) => void | Promise<void>;
  now?: () => Date;
  timers?: Timers;
  /** Longest wait between checks; picks up renewals made by other replicas. */
  checkIntervalMs?: number;
  /** Wait after a failed check. */
  retryIntervalMs?: number;
  log?: Logger;
}

const MIN_DELAY_MS = 1000;
/** setTimeout fires at once for larger delays (a 32-bit signed millisecond count). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Time until the next check: the renewal time if sooner than the interval, within [1 s, ~24.8 days]. Pure. */
export function nextCheckDelayMs(certPem: string, now: Date, checkIntervalMs: number): number {
  const untilRenewal = renewalTime(certPem).getTime() - now.getTime();
  return Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, Math.min(checkIntervalMs, untilRenewal)));
}

export class CertificateRotator implements ServingCertificateSource {
  #opts: Required<Omit<CertificateRotatorOptions, 'publishCa' | 'onRotate' | 'log'>> &
    Pick<CertificateRotatorOptions, 'publishCa' | 'onRotate' | 'log'>;
  #listeners = new KeyPairListeners();
  #current: CertificateBundle | undefined;
  #timer: unknown;
  #stopped = false;
  #publishFailed = false;

  constructor(opts: CertificateRotatorOptions) {
    this.#opts = {
      ...opts,
      now: opts.now ?? (() => new Date()),
      timers: opts.timers ?? realTimers,
      checkIntervalMs: opts.checkIntervalMs ?? 10 * 60 * 1000,
      retryIntervalMs: opts.retryIntervalMs ?? 30 * 1000,
    };
  }

  get current(): CertificateBundle | undefined {
    return this.#current;
  }

  onChange(listener: (pair: ServingKeyPair) => void): () => void {
    return this.#listeners.onChange(listener);
  }

  /** First check; rejects when no certificate can be had (the server cannot start without one). */
  async start(): Promise<CertificateBundle> {
    this.#stopped = false;
    const bundle = await this.check();
    this.#schedule(this.#delayAfter(bundle));
    return bundle;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#opts.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One check. Rejects when the Secret cannot be settled; a failed CA publish is only logged. */
  async check(): Promise<CertificateBundle> {
    const bundle = await this.#opts.ensure();
    if (this.#opts.publishCa) {
      // Before switching the served cert, so the API server already trusts the new CA.
      try {
        await this.#opts.publishCa(bundle.caCert);
        this.#publishFailed = false;
      } catch (err) {
        this.#publishFailed = true;
        this.#opts.log?.error({ err }, 'could not publish the CA into the webhook configuration');
      }
    }
    const previous = this.#current;
    this.#current = bundle;
    if (previous !== undefined && previous.cert !== bundle.cert) {
      this.#listeners.emit({ cert: bundle.cert, key: bundle.key });
      await this.#opts.onRotate?.(bundle);
    }
    return bundle;
  }

  /** A failed CA publish is retried as soon as a failed check. */
  #delayAfter(bundle: CertificateBundle): number {
    const next = nextCheckDelayMs(bundle.cert, this.#opts.now(), this.#opts.checkIntervalMs);
    return this.#publishFailed ? Math.min(next, this.#opts.retryIntervalMs) : next;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#opts.timers.setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    try {
      const bundle = await this.check();
      this.#schedule(this.#delayAfter(bundle));
    } catch (err) {
      this.#opts.log?.error({ err }, 'certificate check failed; retrying');
      this.#schedule(this.#opts.retryIntervalMs);
    }
  }
}
