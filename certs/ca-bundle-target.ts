// Thin shell: put the CA into every webhook entry of the MutatingWebhookConfiguration,
// writing only when the merged bundle differs from what is there.
import type { Logger } from '../src/log.ts';
import { apiCode } from '../src/kube/api-error.ts';
import { mergeCaBundle } from './ca-bundle.ts';

/** The webhook configuration's caBundles (decoded PEM, '' when unset), one per webhook entry. */
export interface CaBundleTarget {
  getCaBundles(name: string): Promise<string[]>;
  /** Sets every webhook entry's clientConfig.caBundle to caPem. */
  patchCaBundle(name: string, caPem: string): Promise<void>;
}

export interface PublishCaDeps {
  target: CaBundleTarget;
  now: () => Date;
  log?: Logger;
}

const MAX_ATTEMPTS = 3;
/**
 * The configuration changed between our read and our write: 409, or 422 from the
 * JSON patch `test` of the resourceVersion (what kube-apiserver answers for it).
 */
const isConcurrentChange = (err: unknown) => apiCode(err) === 409 || apiCode(err) === 422;

/** Returns whether a write happened. Rejects (e.g. 404) when the configuration is missing. */
export async function publishCaBundle(deps: PublishCaDeps, configurationName: string, caCert: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const current = await deps.target.getCaBundles(configurationName);
    if (current.length === 0) return false; // no webhook entries to point at us
    const merged = mergeCaBundle(current, caCert, deps.now());
    if (current.every((pem) => pem === merged)) return false;
    try {
      await deps.target.patchCaBundle(configurationName, merged);
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !isConcurrentChange(err)) throw err;
      continue; // re-read and merge again: keeps CAs another replica just added
    }
    deps.log?.info({ configuration: configurationName }, 'patched caBundle into the webhook configuration');
    return true;
  }
}
