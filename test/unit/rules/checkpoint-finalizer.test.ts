// What the controller does with a Checkpoint's finalizer: add it, or on deletion remove the
// image (only one of the Checkpoint's own namespace) and then the finalizer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_FINALIZER, finalizerStep } from '../../../src/rules/checkpoint-finalizer.ts';

const d = `sha256:${'cd'.repeat(32)}`;
const WHERE = { registry: 'reg.example:5000', prefix: 'kcr' };
const own = `reg.example:5000/kcr/team-a/web-0@${d}`;

describe('finalizerStep', () => {
  it.each<[string, { finalizers: string[]; deleting: boolean; runtimeImage?: string }, unknown]>([
    ['a live Checkpoint with it', { finalizers: [CHECKPOINT_FINALIZER], deleting: false, runtimeImage: own }, { kind: 'none' }],
    ['a live Checkpoint without it (made before finalizers)', { finalizers: [], deleting: false, runtimeImage: own }, { kind: 'add' }],
    ['a live one with only someone else’s', { finalizers: ['x.example/keep'], deleting: false }, { kind: 'add' }],
    ['deleted, its own image', { finalizers: [CHECKPOINT_FINALIZER], deleting: true, runtimeImage: own }, { kind: 'delete-image', ref: { registry: 'reg.example:5000', repository: 'kcr/team-a/web-0', digest: d } }],
    ['deleted, no image yet', { finalizers: [CHECKPOINT_FINALIZER], deleting: true }, { kind: 'release', why: 'no-image' }],
    ['deleted, a tag instead of a digest', { finalizers: [CHECKPOINT_FINALIZER], deleting: true, runtimeImage: 'reg.example:5000/kcr/team-a/web-0:t' }, { kind: 'release', why: 'no-image' }],
    ['deleted, another namespace’s image', { finalizers: [CHECKPOINT_FINALIZER], deleting: true, runtimeImage: `reg.example:5000/kcr/team-b/web-0@${d}` }, { kind: 'release', why: 'foreign-image' }],
    ['deleted, another registry', { finalizers: [CHECKPOINT_FINALIZER], deleting: true, runtimeImage: `evil.example/kcr/team-a/web-0@${d}` }, { kind: 'release', why: 'foreign-image' }],
    ['deleted, finalizer already gone', { finalizers: ['x.example/keep'], deleting: true, runtimeImage: own }, { kind: 'none' }],
  ])('%s', (_n, cp, step) => {
    expect(finalizerStep({ namespace: 'team-a', runtimeImage: undefined, ...cp }, WHERE)).toEqual(step);
  });

  it('never deletes an image outside the Checkpoint’s own namespace, whatever the names', () => {
    const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?$/);
    fc.assert(fc.property(name, name, name, (ns, other, id) => {
      const step = finalizerStep({ namespace: ns, finalizers: [CHECKPOINT_FINALIZER], deleting: true, runtimeImage: `reg.example:5000/kcr/${other}/${id}@${d}` }, WHERE);
      if (step.kind === 'delete-image') expect(step.ref.repository.startsWith(`kcr/${ns}/`)).toBe(true);
      expect(step.kind === 'delete-image').toBe(ns === other);
    }), { numRuns: 500 });
  });
});
