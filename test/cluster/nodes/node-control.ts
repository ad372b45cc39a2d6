// Client of a node runtime simulator's control endpoint (loopback HTTP): the faults tests
// inject, and what the node holds. Everything else a test reads as a user would: pod status,
// Events, `kubectl logs`.
export interface NodeInfo {
  node: string;
  profile: string;
  runtimeName: string;
  runtimeVersion: string;
  restoreEnabled: boolean;
}

export interface NodeImage {
  id: string;
  repoTags?: string[];
  repoDigests?: string[];
  size?: number;
}

export type CrashMode = 'now' | 'loop' | 'off';

export interface NodeControl {
  readonly url: string;
  info(): Promise<NodeInfo>;
  /** The next `count` checkpoints fail as CRIU's dump fails. */
  failNextCheckpoints(count: number): Promise<void>;
  failAllCheckpoints(on: boolean): Promise<void>;
  /** Every checkpoint takes at least this long (0: back to normal). */
  slowCheckpoints(delayMs: number): Promise<void>;
  /** Restores of images whose reference or id contains one of `patterns` fail in CRIU; [] clears. */
  failRestoresOf(patterns: string[]): Promise<void>;
  failNextRestores(count: number): Promise<void>;
  crash(target: { namespace: string; pod: string; container: string }, mode: CrashMode): Promise<void>;
  images(): Promise<NodeImage[]>;
  removeImage(ref: string): Promise<void>;
}

export function nodeControl(url: string): NodeControl {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(new URL(path, url), {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`node control ${method} ${path}: ${res.status} ${text.trim()}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  return {
    url,
    info: async () => (await call('GET', '/v1/info')) as NodeInfo,
    failNextCheckpoints: async (count) => void (await call('POST', '/v1/faults/checkpoints', { failNext: count })),
    failAllCheckpoints: async (on) => void (await call('POST', '/v1/faults/checkpoints', { failAll: on })),
    slowCheckpoints: async (delayMs) => void (await call('POST', '/v1/faults/checkpoints', { delayMs })),
    failRestoresOf: async (patterns) => void (await call('POST', '/v1/faults/restores', { failMatching: patterns })),
    failNextRestores: async (count) => void (await call('POST', '/v1/faults/restores', { failNext: count })),
    crash: async (target, mode) => void (await call('POST', '/v1/faults/crash', { ...target, mode })),
    images: async () => (await call('GET', '/v1/images')) as NodeImage[],
    removeImage: async (ref) => void (await call('DELETE', `/v1/images?ref=${encodeURIComponent(ref)}`)),
  };
}
