import { describe, expect, it } from 'vitest';
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
    ['Exists, key missing', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    ['DoesNotExist, key missing', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
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


describe('selectorMatches without labels, isEmptySelector', () => {
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
