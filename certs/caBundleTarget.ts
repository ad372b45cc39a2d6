// Thin shell: put the CA into every webhook entry of the MutatingWebhookConfiguration,
// writing only when the merged bundle differs from what is there.
import type { Logger } from '../src/log.ts';
import { mergeCaBundle } from './caBundle.ts';

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

/** Returns whether a write happened. Rejects (e.g. 404) when the configuration is missing. */
export async function publishCaBundle(deps: PublishCaDeps, configurationName: string, caCert: string): Promise<boolean> {
  const current = await deps.target.getCaBundles(configurationName);
  if (current.length === 0) return false; // no webhook entries to point at us
  const merged = mergeCaBundle(current, caCert, deps.now());
  if (current.every((pem) => pem === merged)) return false;
  await deps.target.patchCaBundle(configurationName, merged);
  deps.log?.info({ configuration: configurationName }, 'patched caBundle into the webhook configuration');
  return true;
}
