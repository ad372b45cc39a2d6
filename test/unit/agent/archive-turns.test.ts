import { describe, expect, it } from 'vitest';
import { ArchiveTurns, kubeletWaitMs, secondAfter } from '../../../src/agent/archive-turns.ts';

const t = (iso: string) => new Date(iso);

describe('the clock second rule', () => {
  it.each([
    ['no earlier call', undefined, '2026-11-24T08:00:00.700Z', 0],
    ['the earlier call ended in this second', '2026-11-24T08:00:00.200Z', '2026-11-24T08:00:00.700Z', 300],
    ['it ended at the very start of this second', '2026-11-24T08:00:00.000Z', '2026-11-24T08:00:00.000Z', 1000],
    ['it ended in the previous second', '2026-11-24T08:00:00.900Z', '2026-11-24T08:00:01.000Z', 0],
    ['it ended long ago', '2026-11-24T07:00:00Z', '2026-11-24T08:00:00Z', 0],
    ['the clock stepped back an hour: at most a second', '2026-11-24T09:00:00Z', '2026-11-24T08:00:00Z', 1000],
  ])('%s', (_what, end, now, want) => {
    expect(kubeletWaitMs(end === undefined ? undefined : t(end), t(now))).toBe(want);
  });

  it('the second after a time is the start of the next whole second', () => {
    expect(secondAfter(t('2026-11-24T08:00:00.999Z'))).toEqual(t('2026-11-24T08:00:01Z'));
    expect(secondAfter(t('2026-11-24T08:00:01Z'))).toEqual(t('2026-11-24T08:00:02Z'));
  });
});

/** A clock that moves only when the code under test sleeps or a fake kubelet call takes time. */
function fakeClock(startIso: string) {
  let now = Date.parse(startIso);
  const sleeps: number[] = [];
  return {
    now: () => new Date(now),
    advance: (ms: number) => void (now += ms),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    sleeps,
  };
}

describe('archive turns', () => {
  it('jobs of one prefix never overlap and their kubelet calls start in a second after the previous call ended', async () => {
    const clock = fakeClock('2026-11-24T08:00:00.700Z');
    const turns = new ArchiveTurns(clock);
    clock.advance(1000);
    const spans: Array<{ job: string; start: number; end: number }> = [];
    let active = 0;
    let maxActive = 0;
    const job = (id: string) =>
      turns.run('checkpoint-app_team-a-x-', async (turn) => {
        active++;
        maxActive = Math.max(maxActive, active);
        try {
          await turn.kubelet(async () => {
            const start = clock.now().getTime();
            clock.advance(200);
            await new Promise((r) => setImmediate(r));
            spans.push({ job: id, start, end: clock.now().getTime() });
          });
          // Archive handling after the call, still within the turn.
          await new Promise((r) => setImmediate(r));
        } finally {
          active--;
        }
      });
    await Promise.all([job('team/a-x'), job('team-a/x'), job('third')]);
    expect(maxActive).toBe(1);
    expect(spans.map((s) => s.job)).toEqual(['team/a-x', 'team-a/x', 'third']);
    for (let i = 1; i < spans.length; i++) expect(Math.floor(spans[i]!.start / 1000)).toBeGreaterThan(Math.floor(spans[i - 1]!.end / 1000));
    // 08:00:01.700-.900, waits 100 ms, 08:00:02.000-.200, waits 800 ms, 08:00:03.000.
    expect(clock.sleeps).toEqual([100, 800]);
  });

  it('a failed kubelet call counts too: the next call of the prefix waits for the next second', async () => {
    const clock = fakeClock('2026-11-24T07:59:59.500Z');
    const turns = new ArchiveTurns(clock);
    clock.advance(1000);
    await expect(turns.run('p-', (turn) => turn.kubelet(async () => Promise.reject(new Error('timeout'))))).rejects.toThrow('timeout');
    let started = 0;
    await turns.run('p-', (turn) => turn.kubelet(async () => void (started = clock.now().getTime())));
    expect(new Date(started)).toEqual(new Date('2026-11-24T08:00:01Z'));
  });

  it('an agent’s first call of any prefix starts in a second after the agent started (the agent before it may still have a call in the kubelet)', async () => {
    const clock = fakeClock('2026-11-24T08:00:00.400Z');
    const turns = new ArchiveTurns(clock);
    const starts: number[] = [];
    await turns.run('checkpoint-app_team-a-x-', (turn) => turn.kubelet(async () => void starts.push(clock.now().getTime())));
    await turns.run('checkpoint-web-0_apps-app-', (turn) => turn.kubelet(async () => void starts.push(clock.now().getTime())));
    expect(starts.map((t) => new Date(t))).toEqual([new Date('2026-11-24T08:00:01Z'), new Date('2026-11-24T08:00:01Z')]);
    expect(clock.sleeps).toEqual([600]);
  });

  it('other prefixes neither wait nor take turns', async () => {
    const clock = fakeClock('2026-11-24T07:59:59.500Z');
    const turns = new ArchiveTurns(clock);
    clock.advance(1000);
    let release!: () => void;
    const held = turns.run('checkpoint-app_team-a-x-', (turn) => turn.kubelet(() => new Promise<void>((r) => (release = r))));
    await new Promise((r) => setImmediate(r));
    expect(turns.busy('checkpoint-app_team-a-x-')).toBe(true);
    await turns.run('checkpoint-web-0_apps-app-', (turn) => turn.kubelet(async () => undefined));
    expect(clock.sleeps).toEqual([]);
    release();
    await held;
    expect(turns.busy('checkpoint-app_team-a-x-')).toBe(false);
  });
});
