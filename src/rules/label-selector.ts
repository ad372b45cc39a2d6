// Kubernetes LabelSelector semantics (metav1.LabelSelectorAsSelector): all matchLabels and
// all matchExpressions must hold; an empty selector selects everything; a missing selector
// (undefined) selects nothing; an unknown operator selects nothing. The one matcher of kcr:
// schedules' fan-out (controller) and opt-in (webhook, controller) both use it.
import type { LabelSelector, LabelSelectorRequirement } from '../api/types.ts';
import { array, isRecord, str, stringMap } from './shape.ts';

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (selector === undefined) return false;
  labels ??= {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    if (!requirementMatches(req, labels)) return false;
  }
  return true;
}

/** True when a selector has no requirement at all (it selects every pod), or there is none. */
export function isEmptySelector(selector: LabelSelector | undefined): boolean {
  return (
    selector === undefined ||
    (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)
  );
}

function requirementMatches(req: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = labels[req.key];
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && value !== undefined && values.includes(value);
    case 'NotIn':
      return !has || value === undefined || !values.includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return false;
  }
}

/** A LabelSelector from untrusted JSON; undefined when there is none (selects nothing). */
export function parseSelector(v: unknown): LabelSelector | undefined {
  if (!isRecord(v)) return undefined;
  const matchExpressions: LabelSelectorRequirement[] = [];
  for (const e of array(v.matchExpressions)) {
    if (!isRecord(e)) continue;
    const key = str(e.key);
    // Keep a malformed requirement as an operator that never matches: dropping it would widen the selector.
    const operator = (str(e.operator) ?? 'Invalid') as LabelSelectorRequirement['operator'];
    const values = array(e.values).filter((x): x is string => typeof x === 'string');
    matchExpressions.push({ key: key ?? '', operator: key === undefined ? ('Invalid' as never) : operator, values });
  }
  return { matchLabels: stringMap(v.matchLabels), matchExpressions };
}
