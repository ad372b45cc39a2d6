// Derived registry credentials: each proves exactly one identity, for two rotation periods.
import { describe, expect, it } from 'vitest';
import { credentialEpoch, identify, pullerCredential, writerCredential } from '../../../src/registry-access/registry-identity.ts';
import { libtrustKeyId } from '../../../src/registry-access/libtrust-key-id.ts';
import { generateKeyPairSync } from 'node:crypto';

const key = Buffer.alloc(32, 7);
const ROTATION = 3600;
const now = new Date('2026-12-03T12:30:00Z');
const epoch = credentialEpoch(now, ROTATION);

describe('identify', () => {
  it.each([
    ['the current pull credential', pullerCredential(key, 'team-a', epoch), { kind: 'namespace-puller', namespace: 'team-a' }],
    ['the previous period’s', pullerCredential(key, 'team-a', epoch - 1), { kind: 'namespace-puller', namespace: 'team-a' }],
    ['two periods old', pullerCredential(key, 'team-a', epoch - 2), undefined],
    ['from a future period', pullerCredential(key, 'team-a', epoch + 1), undefined],
    ['A’s password under B’s name', { username: 'kcr-pull.team-b', password: pullerCredential(key, 'team-a', epoch).password }, undefined],
    ['A’s password as the writer', { username: 'kcr-writer', password: pullerCredential(key, 'team-a', epoch).password }, undefined],
    ['the writer', writerCredential(key), { kind: 'writer' }],
    ['made with another key', pullerCredential(Buffer.alloc(32, 8), 'team-a', epoch), undefined],
    ['a name that is no namespace', { username: 'kcr-pull.Team_A', password: 'x' }, undefined],
    ['a dotted name', { username: 'kcr-pull.team.a', password: pullerCredential(key, 'team.a', epoch).password }, undefined],
    ['an unknown user', { username: 'admin', password: 'admin' }, undefined],
  ])('%s', (_n, given, identity) => expect(identify(key, given, now, ROTATION)).toEqual(identity));
});

describe('libtrustKeyId', () => {
  it('is 12 groups of 4 base32 characters, stable for one key, different for another', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(libtrustKeyId(a)).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(libtrustKeyId(a)).toBe(libtrustKeyId(a));
    expect(libtrustKeyId(a)).not.toBe(libtrustKeyId(b));
  });
});
