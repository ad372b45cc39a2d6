// One action of a controller reconcile pass, left to the next pass when it fails.
import type { Logger } from '../log.ts';
import { apiCode } from '../kube/kube-json.ts';

/**
 * Runs one action of a reconcile pass. A failure is logged and left to the next pass, which
 * sees the cluster anew: 404/409 (the object went or changed under us, a uid precondition) at
 * info, anything else as a warning.
 */
export async function untilNextPass(logger: Logger, who: Record<string, unknown>, what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    const code = apiCode(err);
    if (code === 404 || code === 409) logger.info({ ...who, code }, `${what} raced; retrying next pass`);
    else logger.warn({ ...who, code, err }, `${what} failed; retrying next pass`);
  }
}
