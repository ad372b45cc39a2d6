// The kcr-pull Secrets: which namespaces get one, which are rewritten (new credential period)
// and which are removed, and the record of them that the webhook reads. Pure.
//
// The record (ConfigMap kcr-pull-secrets in kcr's namespace, key `namespaces.json`) lists each
// namespace whose Secret kcr wrote, with the credential period it holds. It is written after the
// Secret and before its deletion, so a namespace listed there has a Secret: the webhook adds
// kcr-pull to restored pods only there (else reason no-pull-secret). The controller needs no
// right to list Secrets: it only ever touches Secrets named kcr-pull, in namespaces it recorded.
import { credentialEpoch, type Credential } from './registry-identity.ts';

export const PULL_SECRET_NAME = 'kcr-pull';
export const PULL_SECRETS_RECORD = 'kcr-pull-secrets';
export const PULL_SECRETS_RECORD_KEY = 'namespaces.json';
/** On every kcr-pull Secret: kcr made it and may rewrite or delete it; one without is a user's. */
export const PULL_SECRET_LABEL = 'kcr.io/pull-secret';

export interface PullSecretEntry {
  /** Credential period the Secret holds. */
  epoch: number;
  rotationSeconds: number;
}

export type PullSecretRecord = ReadonlyMap<string, PullSecretEntry>;

export interface PullSecretPlan {
  /** Create or rewrite (absent, or an older period). */
  write: string[];
  remove: string[];
}

export function planPullSecrets(desired: ReadonlySet<string>, recorded: PullSecretRecord, epoch: number): PullSecretPlan {
  const write = [...desired].filter((ns) => recorded.get(ns)?.epoch !== epoch).sort();
  const remove = [...recorded.keys()].filter((ns) => !desired.has(ns)).sort();
  return { write, remove };
}

/** The entry's credential is still accepted by the token service (this period or the one before). */
export function pullSecretEntryUsable(e: PullSecretEntry, now: Date): boolean {
  const current = credentialEpoch(now, e.rotationSeconds);
  return e.epoch === current || e.epoch === current - 1;
}

export function parsePullSecretRecord(data: Record<string, string> | undefined): Map<string, PullSecretEntry> {
  const out = new Map<string, PullSecretEntry>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(data?.[PULL_SECRETS_RECORD_KEY] ?? '{}');
  } catch {
    return out;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return out;
  for (const [ns, v] of Object.entries(parsed as Record<string, unknown>)) {
    const e = v as Partial<PullSecretEntry> | null;
    if (e && Number.isInteger(e.epoch) && Number.isInteger(e.rotationSeconds) && e.rotationSeconds! > 0) out.set(ns, { epoch: e.epoch!, rotationSeconds: e.rotationSeconds! });
  }
  return out;
}

export function formatPullSecretRecord(record: PullSecretRecord): Record<string, string> {
  const sorted = Object.fromEntries([...record.entries()].sort(([a], [b]) => a.localeCompare(b)));
  return { [PULL_SECRETS_RECORD_KEY]: JSON.stringify(sorted) };
}

/** `.dockerconfigjson` for one registry and credential. */
export function dockerConfigJson(registry: string, c: Credential): string {
  return JSON.stringify({ auths: { [registry]: { username: c.username, password: c.password, auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') } } });
}
