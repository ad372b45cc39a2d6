// Turns one rendered Kubernetes object into the text of a Helm template: the object's YAML with
// Helm expressions at the places a chart value decides. The same approach as kubebuilder's helm
// plugin (a chart generated from the kustomize output, so the two cannot drift): the object is
// emitted with placeholders, then each placeholder line becomes its template text.
//
// Pure: objects and edits in, text out.
import { stringify } from 'yaml';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

/**
 * Where an edit lands: dot-separated keys; a list item is picked by `[field=value]`, e.g.
 * `spec.template.spec.containers[name=webhook].env[name=KCR_LOG_LEVEL].value`.
 */
export type FieldPath = string;

export type Edit =
  /** The scalar at path becomes `{{ expr }}`. */
  | { op: 'scalar'; path: FieldPath; expr: string }
  /** The map or list at path becomes `toYaml (expr)`. */
  | { op: 'block'; path: FieldPath; expr: string }
  /** A key the manifests leave out, present only when expr is non-empty: a map/list (block) or a string. */
  | { op: 'optional'; path: FieldPath; expr: string; shape: 'block' | 'string' }
  /** Items appended to the list at path: toYaml of expr's list, when non-empty. */
  | { op: 'append'; path: FieldPath; expr: string }
  /** Template text appended to the list at path; its lines are YAML list items at column 0 plus `{{- … }}` lines. */
  | { op: 'appendText'; path: FieldPath; text: string }
  /** Template text appended to the map at path; its lines are `key: value` at column 0 plus `{{- … }}` lines. */
  | { op: 'mapText'; path: FieldPath; text: string };

export class TemplateError extends Error {
  override name = 'TemplateError';
}

type Segment = { key: string; select?: { field: string; value: string } };

function parsePath(path: FieldPath): Segment[] {
  return path.split(/\.(?![^[]*\])/).map((part) => {
    const m = /^([^[]+)(?:\[([^=\]]+)=([^\]]*)\])?$/.exec(part);
    if (!m) throw new TemplateError(`bad field path ${path}`);
    return m[2] !== undefined ? { key: m[1]!, select: { field: m[2], value: m[3]! } } : { key: m[1]! };
  });
}

/** The container holding the last segment, and that segment's key or index. */
function locate(obj: K8sObject, path: FieldPath, create: boolean): { parent: Record<string, unknown> | unknown[]; key: string | number } {
  const segments = parsePath(path);
  let here: unknown = obj;
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (typeof here !== 'object' || here === null || Array.isArray(here)) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${path}: ${seg.key} is not in a map`);
    const map = here as Record<string, unknown>;
    if (!seg.select) {
      if (last) return { parent: map, key: seg.key };
      if (map[seg.key] === undefined && create) map[seg.key] = {};
      here = map[seg.key];
      continue;
    }
    const list = map[seg.key];
    if (!Array.isArray(list)) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${path}: ${seg.key} is not a list`);
    const index = list.findIndex((item) => typeof item === 'object' && item !== null && String((item as Record<string, unknown>)[seg.select!.field]) === seg.select!.value);
    if (index < 0) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${path}: no ${seg.key} item with ${seg.select.field}=${seg.select.value}`);
    if (last) return { parent: list, key: index };
    here = list[index];
  }
  throw new TemplateError(`empty field path`);
}

const placeholder = (n: number) => `__HELM_${n}__`;

/** The object's YAML with each edit's Helm text in place. */
export function templateObject(object: K8sObject, edits: readonly Edit[]): string {
  const obj = structuredClone(object);
  const replacements = new Map<string, Edit>();
  for (const [n, edit] of edits.entries()) {
    const mark = placeholder(n);
    replacements.set(mark, edit);
    const { parent, key } = locate(obj, edit.path, edit.op === 'optional');
    const current = (parent as Record<string | number, unknown>)[key];
    switch (edit.op) {
      case 'scalar':
      case 'block':
        if (current === undefined) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${edit.path} is not in the manifest`);
        (parent as Record<string | number, unknown>)[key] = mark;
        break;
      case 'optional':
        if (current !== undefined) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${edit.path} is in the manifest already; bind it with scalar or block`);
        (parent as Record<string | number, unknown>)[key] = mark;
        break;
      case 'mapText': {
        const map = current as Record<string, unknown> | undefined;
        if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${edit.path} is not a map`);
        map[mark] = '';
        break;
      }
      case 'append':
      case 'appendText':
        if (!Array.isArray(current) || current.length === 0) throw new TemplateError(`${obj.kind}/${obj.metadata.name}: ${edit.path} is not a non-empty list`);
        current.push(mark);
        break;
    }
  }
  const text = stringify(obj, { lineWidth: 0, minContentWidth: 0 });
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mapKey = /^(\s*)(__HELM_\d+__): ""$/.exec(line);
    const keyed = mapKey ? replacements.get(mapKey[2]!) : undefined;
    if (mapKey && keyed?.op === 'mapText') {
      for (const t of keyed.text.replace(/\n$/, '').split('\n')) out.push(t.startsWith('{{-') ? t : `${mapKey[1]}${t}`);
      continue;
    }
    const m = /^(\s*)(- )?(?:([^\s:][^:]*): )?(__HELM_\d+__)$/.exec(line) ?? /(__HELM_\d+__)/.exec(line);
    const mark = m ? (m[4] ?? m[1]) : undefined;
    const edit = mark ? replacements.get(mark) : undefined;
    if (!m || !edit || !mark) {
      out.push(line);
      continue;
    }
    if (edit.op === 'scalar') {
      out.push(line.replace(mark, `{{ ${edit.expr} }}`));
      continue;
    }
    const indent = (m[1] ?? '').length + (m[2] ? 2 : 0);
    const dash = m[2] ? `${m[1]}- ` : m[1] ?? '';
    const key = m[3];
    if (edit.op === 'block') {
      if (!key) throw new TemplateError(`${edit.path}: a block must be a map value`);
      out.push(`${dash}${key}:`, `{{- toYaml (${edit.expr}) | nindent ${indent + 2} }}`);
    } else if (edit.op === 'optional') {
      if (!key || m[2]) throw new TemplateError(`${edit.path}: an optional key must be a plain map key`);
      out.push(`{{- with (${edit.expr}) }}`);
      out.push(edit.shape === 'block' ? `${dash}${key}:\n{{- toYaml . | nindent ${indent + 2} }}` : `${dash}${key}: {{ . | quote }}`);
      out.push('{{- end }}');
    } else if (edit.op === 'append') {
      out.push(`{{- with (${edit.expr}) }}`, `{{- toYaml . | nindent ${(m[1] ?? '').length} }}`, '{{- end }}');
    } else if (edit.op === 'appendText') {
      const pad = m[1] ?? '';
      for (const t of edit.text.replace(/\n$/, '').split('\n')) out.push(t.startsWith('{{-') ? t : `${pad}${t}`);
    } else {
      throw new TemplateError(`${edit.path}: ${edit.op} placeholder in an unexpected place`);
    }
  }
  return out.join('\n');
}

/** A template shown only when cond holds. */
export function when(cond: string, text: string): string {
  return `{{- if ${cond} }}\n${text.replace(/\n$/, '')}\n{{- end }}\n`;
}

/** One template for two renderings of an object: `a` when cond holds, else `b`. */
export function either(cond: string, a: string, b: string): string {
  return `{{- if ${cond} }}\n${a.replace(/\n$/, '')}\n{{- else }}\n${b.replace(/\n$/, '')}\n{{- end }}\n`;
}
