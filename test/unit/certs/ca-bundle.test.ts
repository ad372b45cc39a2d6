import { X509Certificate } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { generateCertificateBundle, mergeCaBundle, publishCaBundle, splitPemBundle } from '../../../certs/index.ts';
import { FakeCaBundleTarget, apiError } from './fakes.ts';

// Each test makes real RSA keys; a loaded machine (parallel test files) can take seconds.
vi.setConfig({ testTimeout: 30_000 });

const DAY = 86_400_000;
const t0 = new Date('2026-01-01T00:00:00Z');
const make = (now: Date, validityDays = 30) =>
  generateCertificateBundle({ serviceName: 's', namespace: 'n', validityDays, now }).caCert;
const caOld = make(t0);
const caMid = make(new Date(t0.getTime() + 10 * DAY));
const caNew = make(new Date(t0.getTime() + 20 * DAY));
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
const fps = (bundle: string) => splitPemBundle(bundle).map((c) => c.fingerprint256);

describe('mergeCaBundle', () => {
  const during = new Date(t0.getTime() + 21 * DAY);

  it('puts the new CA first and keeps the previous unexpired CA for the overlap', () => {
    expect(fps(mergeCaBundle([caOld], caNew, during))).toEqual([fp(caNew), fp(caOld)]);
  });

  it('drops CAs that have expired', () => {
    const afterOld = new Date(t0.getTime() + 31 * DAY);
    expect(fps(mergeCaBundle([caOld + caMid], caNew, afterOld))).toEqual([fp(caNew), fp(caMid)]);
  });

  it('is idempotent: merging the result again changes nothing', () => {
    const once = mergeCaBundle([caOld], caNew, during);
    expect(mergeCaBundle([once], caNew, during)).toBe(once);
  });

  it('deduplicates across webhook entries and ignores empty or corrupt entries', () => {
    const corrupt = '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n';
    expect(fps(mergeCaBundle([caOld, caOld, '', corrupt, caNew], caNew, during))).toEqual([fp(caNew), fp(caOld)]);
  });

  it('holds at most three CAs, newest first', () => {
    const caNewest = make(new Date(t0.getTime() + 25 * DAY));
    const merged = mergeCaBundle([caOld + caMid + caNew], caNewest, new Date(t0.getTime() + 26 * DAY));
    expect(fps(merged)).toEqual([fp(caNewest), fp(caNew), fp(caMid)]);
  });

  it('rejects a new CA that is not a certificate', () => {
    expect(() => mergeCaBundle([caOld], 'junk', during)).toThrow();
  });
});

describe('publishCaBundle', () => {
  const now = () => new Date(t0.getTime() + 21 * DAY);

  it('writes every webhook entry when the CA is missing, then leaves it alone', async () => {
    const target = new FakeCaBundleTarget();
    target.configs.set('kcr-restore', [caOld, '']);
    expect(await publishCaBundle({ target, now }, 'kcr-restore', caNew)).toBe(true);
    const [a, b] = target.configs.get('kcr-restore')!;
    expect(a).toBe(b);
    expect(fps(a!)).toEqual([fp(caNew), fp(caOld)]);
    expect(await publishCaBundle({ target, now }, 'kcr-restore', caNew)).toBe(false);
    expect(target.patches).toHaveLength(1);
  });

  it('does not write a configuration without webhook entries', async () => {
    const target = new FakeCaBundleTarget();
    target.configs.set('kcr-restore', []);
    expect(await publishCaBundle({ target, now }, 'kcr-restore', caNew)).toBe(false);
    expect(target.patches).toHaveLength(0);
  });

  it('re-reads and merges again when the configuration changed under it (422 from the JSON patch test, 409)', async () => {
    for (const code of [422, 409]) {
      const target = new FakeCaBundleTarget();
      target.configs.set('kcr-restore', [caOld]);
      const patch = target.patchCaBundle.bind(target);
      let calls = 0;
      target.patchCaBundle = async (name, pem) => {
        if (++calls === 1) {
          target.configs.set('kcr-restore', [caMid]); // another replica published caMid meanwhile
          throw apiError(code);
        }
        return patch(name, pem);
      };
      expect(await publishCaBundle({ target, now }, 'kcr-restore', caNew)).toBe(true);
      expect(fps(target.configs.get('kcr-restore')![0]!)).toEqual([fp(caNew), fp(caMid)]);
    }
  });

  it('gives up after repeated conflicts and on other errors', async () => {
    const target = new FakeCaBundleTarget();
    target.configs.set('kcr-restore', [caOld]);
    let calls = 0;
    target.patchCaBundle = async () => {
      calls++;
      throw apiError(409);
    };
    await expect(publishCaBundle({ target, now }, 'kcr-restore', caNew)).rejects.toMatchObject({ code: 409 });
    expect(calls).toBe(3);
    target.patchCaBundle = async () => {
      throw apiError(403);
    };
    await expect(publishCaBundle({ target, now }, 'kcr-restore', caNew)).rejects.toMatchObject({ code: 403 });
  });

  it('rejects with the API status when the configuration does not exist', async () => {
    const target = new FakeCaBundleTarget();
    await expect(publishCaBundle({ target, now }, 'missing', caNew)).rejects.toMatchObject({ code: 404 });
  });
});
