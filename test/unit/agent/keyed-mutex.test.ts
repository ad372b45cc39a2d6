import { describe, expect, it } from 'vitest';
import { KeyedMutex } from '../../../src/agent/keyed-mutex.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('keyed mutex', () => {
  it('one holder per key, in arrival order; other keys run side by side', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const g = gate();
    const first = m.run('k', async () => {
      log.push('k1 start');
      await g.opened;
      log.push('k1 end');
    });
    const second = m.run('k', async () => void log.push('k2'));
    const other = m.run('other', async () => void log.push('other'));
    await tick();
    expect(log).toEqual(['k1 start', 'other']);
    expect(m.held('k')).toBe(true);
    g.open();
    await Promise.all([first, second, other]);
    expect(log).toEqual(['k1 start', 'other', 'k1 end', 'k2']);
    expect(m.held('k')).toBe(false);
    expect(m.held('other')).toBe(false);
  });

  it('a holder that fails frees the key and its error reaches only its own caller', async () => {
    const m = new KeyedMutex();
    const failed = m.run('k', async () => {
      throw new Error('boom');
    });
    const next = m.run('k', async () => 'ran');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
    expect(m.held('k')).toBe(false);
  });
});
