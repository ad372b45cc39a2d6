import { describe, expect, it } from 'vitest';
import type { LabelSelector } from '../../../src/api/types.ts';
import { isEmptySelector, parseSelector, selectorMatches } from '../../../src/rules/label-selector.ts';

const labels = { app: 'db', tier: 'backend' };

describe('selectorMatches', () => {
  it.each([
    ['empty selector selects everything', {}, true],
    ['matchLabels all equal', { matchLabels: { app: 'db', tier: 'backend' } }, true],
    ['matchLabels one differs', { matchLabels: { app: 'db', tier: 'front' } }, false],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['x', 'backend'] }] }, true],
    ['In, value absent', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['x'] }] }, false],
    ['In, key missing', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn, key missing', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['NotIn, value listed', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }, false],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    ['labels and expressions both must hold', { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
    ['unknown operator selects nothing', { matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, false],
    ['requirement without key selects nothing', { matchExpressions: [{ operator: 'Exists' }] }, false],
  ])('%s', (_name, raw, expected) => {
    expect(selectorMatches(parseSelector(raw), labels)).toBe(expected);
  });

  it('a missing selector selects nothing', () => {
    expect(selectorMatches(parseSelector(undefined), labels)).toBe(false);
    expect(selectorMatches(parseSelector('app=db'), labels)).toBe(false);
  });
});


describe('selectorMatches (as the schedules’ fan-out uses it)', () => {
  const podLabels = { app: 'web', tier: 'front', env: 'prod' };
  it.each<[string, LabelSelector, boolean]>([
    ['empty selector matches everything', {}, true],
    ['matchLabels all equal', { matchLabels: { app: 'web', tier: 'front' } }, true],
    ['matchLabels one differs', { matchLabels: { app: 'web', tier: 'back' } }, false],
    ['In hit', { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }] }, true],
    ['In miss', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] }, false],
    ['In on a missing key', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn hit', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, false],
    ['NotIn on a missing key matches', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    ['Exists missing', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    ['DoesNotExist present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [
      'labels and expressions are ANDed',
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] },
      false,
    ],
    [
      'unknown operator selects nothing',
      { matchExpressions: [{ key: 'app', operator: 'Gt' as 'In', values: ['1'] }] },
      false,
    ],
  ])('%s', (_name, selector, expected) => {
    expect(selectorMatches(selector, podLabels)).toBe(expected);
  });

  it('treats missing labels as none', () => {
    expect(selectorMatches({ matchLabels: { app: 'web' } }, undefined)).toBe(false);
    expect(selectorMatches({}, undefined)).toBe(true);
  });

  it('isEmptySelector', () => {
    expect(isEmptySelector({})).toBe(true);
    expect(isEmptySelector(undefined)).toBe(true);
    expect(isEmptySelector({ matchLabels: {}, matchExpressions: [] })).toBe(true);
    expect(isEmptySelector({ matchLabels: { a: 'b' } })).toBe(false);
  });
});
