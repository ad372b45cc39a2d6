import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_LEDGER, LedgerEntryError, parseLedger, serialiseLedger, withArchive, withoutArchives, type LedgerEntry } from '../../../src/agent/archive-ledger.ts';

const teamA: LedgerEntry = { namespace: 'team-a', pod: 'app', podUid: 'pod-1', container: 'x', requestUid: 'req-1', recordedAt: '2026-11-24T08:00:02Z' };
const team: LedgerEntry = { namespace: 'team', pod: 'app', podUid: 'pod-2', container: 'a-x', requestUid: 'req-2', recordedAt: '2026-11-24T08:00:03Z' };
// Both owners' archives start `checkpoint-app_team-a-x-`.
const at = (s: number) => `checkpoint-app_team-a-x-2026-11-24T08:00:${String(s).padStart(2, '0')}Z.tar`;

const doc = (archives: unknown, version: unknown = 1) => JSON.stringify({ version, archives });

describe('archive ledger format', () => {
  it('round-trips: file name -> owner (namespace, pod, pod uid, container, request uid, when recorded)', () => {
    const ledger = withArchive(withArchive(EMPTY_LEDGER, at(1), teamA), at(2), team);
    const text = serialiseLedger(ledger);
    expect(JSON.parse(text)).toEqual({ version: 1, archives: { [at(1)]: teamA, [at(2)]: team } });
    expect(parseLedger(text)).toEqual({ ledger });
  });

  it('the same ledger is always the same bytes, whatever order it was recorded in', () => {
    const a = withArchive(withArchive(EMPTY_LEDGER, at(1), teamA), at(2), team);
    const b = withArchive(withArchive(EMPTY_LEDGER, at(2), team), at(1), teamA);
    expect(serialiseLedger(a)).toBe(serialiseLedger(b));
  });

  it('an empty object of archives is an empty ledger', () => {
    expect(parseLedger(doc({}))).toEqual({ ledger: new Map() });
  });

  it.each([
    ['not JSON', '{"version": 1, "archives": {', /not JSON/],
    ['an empty file', '', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['another version', doc({}, 2), /version 2, not 1/],
    ['no version', JSON.stringify({ archives: {} }), /version undefined/],
    ['archives not an object', doc([]), /"archives" is not an object/],
    ['an entry not an object', doc({ [at(1)]: 'team-a' }), /is not an object/],
    ['a field missing', doc({ [at(1)]: { ...teamA, requestUid: undefined } }), /requestUid is not a string/],
    ['an empty namespace', doc({ [at(1)]: { ...teamA, namespace: '' } }), /namespace is not a non-empty string/],
    ['a number for a field', doc({ [at(1)]: { ...teamA, pod: 7 } }), /pod is not a non-empty string/],
    ['recordedAt not a time', doc({ [at(1)]: { ...teamA, recordedAt: 'yesterday' } }), /recordedAt is not a time/],
    ['a name of another container', doc({ 'checkpoint-web-0_apps-app-2026-11-24T08:00:01Z.tar': teamA }), /is not an archive name of team-a\/app container x/],
    ['a path, not a file name', doc({ [`../${at(1)}`]: teamA }), /is not an archive name/],
    ['a name with no time', doc({ 'checkpoint-app_team-a-x-.tar': teamA }), /is not an archive name/],
  ])('refuses %s as a whole (the caller then deletes nothing)', (_what, text, why) => {
    const parsed = parseLedger(text);
    expect(parsed).not.toHaveProperty('ledger');
    expect((parsed as { error: string }).error).toMatch(why);
  });

  it('one bad entry among good ones still refuses the whole ledger', () => {
    expect(parseLedger(doc({ [at(1)]: teamA, [at(2)]: { ...team, container: '' } }))).toHaveProperty('error');
  });

  it('recording a name already recorded for another owner replaces that owner; forgetting drops names', () => {
    const ledger = withArchive(withArchive(EMPTY_LEDGER, at(1), teamA), at(1), team);
    expect(ledger.get(at(1))).toEqual(team);
    expect(ledger.size).toBe(1);
    expect(withoutArchives(withArchive(ledger, at(2), teamA), [at(1), 'not-there']).size).toBe(1);
  });

  it('recording a name that is not the owner’s archive name throws', () => {
    expect(() => withArchive(EMPTY_LEDGER, 'checkpoint-web-0_apps-app-2026-11-24T08:00:01Z.tar', teamA)).toThrow(LedgerEntryError);
  });

  it('property: whatever is recorded parses back unchanged; arbitrary text is a ledger or an error, never a throw', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const entry = fc.record({ namespace: label, pod: label, podUid: fc.uuid(), container: label, requestUid: fc.string(), recordedAt: fc.constant('2026-11-24T08:00:00Z') });
    fc.assert(
      fc.property(fc.array(fc.tuple(entry, fc.integer({ min: 0, max: 59 })), { maxLength: 10 }), (rows) => {
        let ledger = EMPTY_LEDGER;
        for (const [e, s] of rows) ledger = withArchive(ledger, `checkpoint-${e.pod}_${e.namespace}-${e.container}-2026-11-24T08:00:${String(s).padStart(2, '0')}Z.tar`, e);
        expect(parseLedger(serialiseLedger(ledger))).toEqual({ ledger });
      }),
    );
    fc.assert(fc.property(fc.string(), (text) => 'ledger' in parseLedger(text) || 'error' in parseLedger(text)));
  });
});
