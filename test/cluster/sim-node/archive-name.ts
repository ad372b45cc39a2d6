// The kubelet's checkpoint archive name: checkpoint-<pod>_<namespace>-<container>-<RFC3339>.tar
// (kubelet.go: "checkpoint-%s-%s-%s.tar" with the pod full name and time.Now().Format(time.RFC3339)).

/** RFC3339 at one-second resolution in UTC, as Go formats it: 2026-11-24T07:40:00Z. */
export function rfc3339Seconds(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function checkpointArchiveName(pod: string, namespace: string, container: string, at: Date): string {
  return `checkpoint-${pod}_${namespace}-${container}-${rfc3339Seconds(at)}.tar`;
}

export interface ParsedArchiveName {
  /** checkpoint-<pod>_<namespace>-<container> (the split is ambiguous: names hold dashes). */
  prefix: string;
  time: Date;
}

/** Splits a name made by checkpointArchiveName; undefined when it is not one. */
export function parseCheckpointArchiveName(name: string): ParsedArchiveName | undefined {
  const m = /^(checkpoint-.+_.+-.+)-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2}))\.tar$/.exec(name);
  if (!m) return undefined;
  const t = new Date(m[2]!);
  if (Number.isNaN(t.getTime())) return undefined;
  return { prefix: m[1]!, time: t };
}
