// Thin shell: reuse the bundle in the Secret while it is good, otherwise make a
// new one and write it. Replicas race on start-up and at renewal; the loser of
// a write gets 409, re-reads, and adopts the winner's bundle.
import type { Logger } from '../src/log.ts';
import { isConflict, isNotFound } from './api-errors.ts';
import type { CertificateBundle } from './bundle.ts';
import { bundleRenewalReason } from './bundle-check.ts';
import { generateCertificateBundle } from './generate.ts';
import { bundleFromSecretData, bundleToSecretData, type SecretStore } from './secret-store.ts';
import { serviceDnsNames } from './service-dns-names.ts';

export interface EnsureCertificateDeps {
  secrets: SecretStore;
  now: () => Date;
  log?: Logger;
  /** Replaceable for tests; defaults to generateCertificateBundle. */
  generate?: typeof generateCertificateBundle;
}

export interface EnsureCertificateOptions {
  namespace: string;
  secretName: string;
  serviceName: string;
  validityDays: number;
  extraDnsNames?: string[];
  ipAddresses?: string[];
}

export type EnsureAction = 'reused' | 'created' | 'renewed';

export interface EnsureResult {
  bundle: CertificateBundle;
  action: EnsureAction;
}

const MAX_ATTEMPTS = 4;

export async function ensureServingCertificate(
  deps: EnsureCertificateDeps,
  opts: EnsureCertificateOptions,
): Promise<EnsureResult> {
  const generate = deps.generate ?? generateCertificateBundle;
  const wanted = {
    dnsNames: [...serviceDnsNames(opts.serviceName, opts.namespace), ...(opts.extraDnsNames ?? [])],
    ipAddresses: opts.ipAddresses ?? [],
  };
  const fresh = (now: Date) =>
    generate({
      serviceName: opts.serviceName,
      namespace: opts.namespace,
      validityDays: opts.validityDays,
      now,
      extraDnsNames: opts.extraDnsNames ?? [],
      ipAddresses: opts.ipAddresses ?? [],
    });
  const where = { namespace: opts.namespace, secret: opts.secretName };

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const now = deps.now();
    const stored = await deps.secrets.get(opts.namespace, opts.secretName);
    if (stored === undefined) {
      const bundle = fresh(now);
      try {
        await deps.secrets.create(opts.namespace, opts.secretName, bundleToSecretData(bundle));
        deps.log?.info(where, 'created webhook serving certificate');
        return { bundle, action: 'created' };
      } catch (err) {
        if (!isConflict(err)) throw err;
        deps.log?.info({ ...where, attempt }, 'another replica created the certificate Secret first; re-reading');
        continue;
      }
    }

    const current = bundleFromSecretData(stored.data);
    const reason = current ? bundleRenewalReason(current, wanted, now) : 'Secret lacks tls.crt, tls.key, ca.crt or ca.key';
    if (current && reason === undefined) return { bundle: current, action: 'reused' };

    const bundle = fresh(now);
    try {
      await deps.secrets.replace(opts.namespace, opts.secretName, bundleToSecretData(bundle), stored.resourceVersion);
      deps.log?.info({ ...where, reason }, 'renewed webhook serving certificate');
      return { bundle, action: 'renewed' };
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err)) throw err;
      deps.log?.info({ ...where, attempt }, 'certificate Secret changed while renewing; re-reading');
    }
  }
  throw new Error(`could not settle the certificate Secret ${opts.namespace}/${opts.secretName} after ${MAX_ATTEMPTS} attempts`);
}
