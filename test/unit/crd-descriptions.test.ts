// `kubectl explain` shows a description for every field of every kcr kind: each property at
// every depth of each CRD's openAPIV3Schema (inside lists and maps too) has a non-empty
// description. A failure names the CRD file and the path of each field without one. The one
// exception is the root `metadata`, which must stay a bare `type: object` (ObjectMeta's own
// description is what kubectl explain shows for it).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const CRDS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'manifests', 'crds');

type Schema = {
  description?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
};

/** Paths (kubectl explain's spelling: `spec.selector.matchExpressions.key`) of properties without a description. */
export function undescribed(schema: Schema, path = ''): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const here = path === '' ? name : `${path}.${name}`;
    if (typeof child.description !== 'string' || child.description.trim() === '') out.push(here);
    out.push(...undescribed(child, here));
  }
  if (schema.items) out.push(...undescribed(schema.items, `${path}[]`));
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') out.push(...undescribed(schema.additionalProperties, `${path}{}`));
  return out;
}

interface Crd {
  kind: string;
  spec: { names: { kind: string }; versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> };
}

const crds = readdirSync(CRDS)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(CRDS, file), 'utf8'))
      .map((d) => d.toJS() as Crd | null)
      .filter((o): o is Crd => o?.kind === 'CustomResourceDefinition')
      .map((crd) => ({ file, crd })),
  );

describe('every CRD field has a description (kubectl explain)', () => {
  it('finds the four kinds', () => {
    expect(crds.map((c) => c.crd.spec.names.kind).sort()).toEqual(['Checkpoint', 'CheckpointRequest', 'CheckpointSchedule', 'RestoreRequest']);
  });

  for (const { file, crd } of crds) {
    for (const v of crd.spec.versions) {
      it(`${crd.spec.names.kind} ${v.name} (${file}): the kind and every property at every depth`, () => {
        const root = v.schema.openAPIV3Schema;
        // The API server refuses a CRD whose root `metadata` schema says anything but `type: object`
        // (a description included: "must not specify anything other than name and generateName");
        // kubectl explain shows ObjectMeta's own description there.
        expect(root.properties?.metadata).toEqual({ type: 'object' });
        const { metadata: _metadata, ...fields } = root.properties ?? {};
        const missing = [...(typeof root.description === 'string' && root.description.trim() !== '' ? [] : ['(the kind itself)']), ...undescribed({ ...root, properties: fields })];
        expect(missing, `${file}: properties without a description`).toEqual([]);
      });
    }
  }

  it('the walk finds a missing description inside a list, a map and a nested object', () => {
    const schema: Schema = {
      properties: {
        spec: {
          description: 'x',
          properties: {
            a: { description: 'x', items: { properties: { b: {} } } },
            m: { description: 'x', additionalProperties: { properties: { c: { description: '  ' } } } },
            o: { properties: { d: { description: 'x' } } },
          },
        },
      },
    };
    expect(undescribed(schema)).toEqual(['spec.a[].b', 'spec.m{}.c', 'spec.o']);
  });
});
