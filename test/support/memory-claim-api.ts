// An API server's Checkpoint store as far as claims use it, for unit tests of the claim loop:
// merge patches of metadata with the resourceVersion precondition (409 when it is stale), 404
// for a Checkpoint that is not there. The cluster tests run the same loop against a real one.
import type { ClaimApi } from '../../webhooks/checkpoint-claims.ts';

class StatusError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

type Stored = { metadata: { namespace: string; name: string; resourceVersion: string; annotations?: Record<string, string> } } & Record<string, unknown>;

export class MemoryClaimApi implements ClaimApi {
  readonly #objects = new Map<string, Stored>();
  #version = 100;
  /** Calls made, for assertions on how many writes a decision costs. */
  patches = 0;
  /** Set to make every call fail as an unreachable API server would. */
  failWith: Error | undefined;

  /** Stores a Checkpoint as created; returns it with its resourceVersion, as an informer delivers it. */
  put<T extends object>(cp: T): T {
    const stored = structuredClone(cp) as unknown as Stored;
    stored.metadata.resourceVersion = String(++this.#version);
    this.#objects.set(`${stored.metadata.namespace}/${stored.metadata.name}`, stored);
    return structuredClone(stored) as unknown as T;
  }

  async patchCheckpointMetadata(namespace: string, name: string, metadata: Record<string, unknown>): Promise<unknown> {
    this.patches++;
    if (this.failWith) throw this.failWith;
    const stored = this.#objects.get(`${namespace}/${name}`);
    if (stored === undefined) throw new StatusError(404, `checkpoints "${name}" not found`);
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== stored.metadata.resourceVersion) {
      throw new StatusError(409, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    stored.metadata.annotations = { ...stored.metadata.annotations, ...(metadata.annotations as Record<string, string>) };
    stored.metadata.resourceVersion = String(++this.#version);
    return structuredClone(stored);
  }

  async getCheckpoint(namespace: string, name: string): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    const stored = this.#objects.get(`${namespace}/${name}`);
    if (stored === undefined) throw new StatusError(404, `checkpoints "${name}" not found`);
    return structuredClone(stored);
  }

  /** Changes the Checkpoint the way the controller's status writes do (a new resourceVersion, no claim). */
  touch(namespace: string, name: string): void {
    const stored = this.#objects.get(`${namespace}/${name}`);
    if (stored) stored.metadata.resourceVersion = String(++this.#version);
  }
}
