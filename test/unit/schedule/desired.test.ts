import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { API_VERSION, type CheckpointSchedule } from '../../../src/api/types.ts';
import { desiredSchedulers, type WorkloadSchedule } from '../../../src/schedule/desired.ts';
import { planReconcile } from '../../../src/schedule/plan.ts';

function cps(name: string, schedule: string, extra: Partial<CheckpointSchedule['spec']> = {}, ns = 'apps'): CheckpointSchedule {
  return {
    apiVersion: API_VERSION,
    kind: 'CheckpointSchedule',
    metadata: { name, namespace: ns, uid: `uid-${ns}-${name}` },
    spec: { schedule, selector: { matchLabels: { app: name } }, ...extra },
  };
}

const redisStatefulSet: WorkloadSchedule = {
  kind: 'StatefulSet',
  namespace: 'db',
  name: 'redis',
  uid: 'uid-sts',
  cron: '*/10 * * * *',
  selector: { matchLabels: { app: 'redis' } },
};

describe('desiredSchedulers', () => {
  it('makes one scheduler per schedule and annotated workload, with deterministic ids and only references as data', () => {
    const r = desiredSchedulers([cps('web', '*/5 * * * *', { timeZone: 'Europe/Berlin' })], [redisStatefulSet]);
    expect(r.errors).toEqual([]);
    expect(r.schedulers.map((s) => [s.id, s.pattern, s.tz])).toEqual([
      ['cps:apps/web', '*/5 * * * *', 'Europe/Berlin'],
      ['wl:StatefulSet/db/redis', '*/10 * * * *', undefined],
    ]);
    expect(r.schedulers[0]!.data).toEqual({ kind: 'CheckpointSchedule', namespace: 'apps', name: 'web', uid: 'uid-apps-web' });
    expect(Object.keys(r.schedulers[1]!.data).sort()).toEqual(['kind', 'name', 'namespace', 'uid']);
  });

  it('leaves out suspended and deleting schedules without an error', () => {
    const deleting = cps('gone', '* * * * *');
    deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    const r = desiredSchedulers([cps('paused', '* * * * *', { suspend: true }), deleting], []);
    expect(r.schedulers).toEqual([]);
    expect(r.errors).toEqual([]);
  });

  it('reports invalid cron and time zones as errors and leaves them out', () => {
    const r = desiredSchedulers(
      [cps('bad-cron', '* * * * * *'), cps('bad-tz', '0 * * * *', { timeZone: 'Nowhere/City' }), cps('ok', '0 * * * *')],
      [{ ...redisStatefulSet, cron: 'every minute' }],
    );
    expect(r.schedulers.map((s) => s.id)).toEqual(['cps:apps/ok']);
    expect(r.errors.map((e) => [e.ref.kind, e.ref.name])).toEqual([
      ['CheckpointSchedule', 'bad-cron'],
      ['CheckpointSchedule', 'bad-tz'],
      ['StatefulSet', 'redis'],
    ]);
    expect(r.errors[1]!.message).toContain('Nowhere/City');
  });

  it('gives the same fingerprint for the same content and a new one when cron, zone or uid change', () => {
    const fp = (s: CheckpointSchedule) => desiredSchedulers([s], []).schedulers[0]!.fingerprint;
    const base = cps('web', '*/5 * * * *');
    expect(fp(cps('web', '*/5  *  * * *'))).toBe(fp(base));
    expect(fp(cps('web', '*/6 * * * *'))).not.toBe(fp(base));
    expect(fp(cps('web', '*/5 * * * *', { timeZone: 'UTC' }))).not.toBe(fp(base));
    const recreated = cps('web', '*/5 * * * *');
    recreated.metadata.uid = 'another-uid';
    expect(fp(recreated)).not.toBe(fp(base));
    // Fields that do not reach Redis do not change it.
    expect(fp(cps('web', '*/5 * * * *', { containerNames: ['app'], timeoutSeconds: 60 }))).toBe(fp(base));
  });
});

describe('planReconcile', () => {
  const desired = desiredSchedulers([cps('a', '* * * * *'), cps('b', '0 * * * *'), cps('c', '0 0 * * *')], []).schedulers;
  const stored = desired.map((d) => ({ id: d.id, fingerprint: d.fingerprint }));

  it('writes everything into an empty Redis', () => {
    const p = planReconcile(desired, []);
    expect(p.upsert.map((u) => u.id)).toEqual(['cps:apps/a', 'cps:apps/b', 'cps:apps/c']);
    expect(p).toMatchObject({ remove: [], unchanged: 0 });
  });

  it('writes nothing when every fingerprint matches', () => {
    expect(planReconcile(desired, stored)).toEqual({ upsert: [], remove: [], unchanged: 3 });
  });

  it('rewrites only the changed one, removes what is no longer wanted, and never touches foreign schedulers', () => {
    const changed = desiredSchedulers([cps('a', '* * * * *'), cps('b', '5 * * * *')], []).schedulers;
    const p = planReconcile(changed, [...stored, { id: 'someone-else' }]);
    expect(p.upsert.map((u) => [u.id, u.pattern])).toEqual([['cps:apps/b', '5 * * * *']]);
    expect(p.remove).toEqual(['cps:apps/c']);
    expect(p.unchanged).toBe(1);
  });

  it('rewrites schedulers without a fingerprint, and all of them when forced', () => {
    expect(planReconcile(desired, [{ id: 'cps:apps/a' }]).upsert).toHaveLength(3);
    expect(planReconcile(desired, stored, { force: true })).toMatchObject({ unchanged: 0, remove: [] });
    expect(planReconcile(desired, stored, { force: true }).upsert).toHaveLength(3);
  });

  it('property: applying a plan and planning again yields no work', () => {
    const schedule = fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      cron: fc.constantFrom('* * * * *', '0 * * * *', '*/5 * * * *', 'bad'),
      suspend: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(schedule), fc.array(schedule), (before, after) => {
        const toCrs = (xs: typeof before) => xs.map((x) => cps(x.name, x.cron, { suspend: x.suspend }));
        // Redis after applying `before`.
        let redis = new Map(desiredSchedulers(toCrs(before), []).schedulers.map((d) => [d.id, d.fingerprint]));
        const want = desiredSchedulers(toCrs(after), []).schedulers;
        const p = planReconcile(want, [...redis].map(([id, fingerprint]) => ({ id, fingerprint })));
        redis = new Map([...redis].filter(([id]) => !p.remove.includes(id)));
        for (const u of p.upsert) redis.set(u.id, u.fingerprint);
        expect([...redis.keys()].sort()).toEqual(want.map((w) => w.id).sort());
        const again = planReconcile(want, [...redis].map(([id, fingerprint]) => ({ id, fingerprint })));
        expect(again).toEqual({ upsert: [], remove: [], unchanged: want.length });
      }),
    );
  }, 30_000);
});
