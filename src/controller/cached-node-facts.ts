// What a node's labels say it can restore, read from the controller's cache: one lookup for
// RestoreRequests (targetNode) and in-place restores (the pod's own node).
import { nodeRestoreFacts, type NodeRestoreFacts } from '../rules/restore-fit.ts';
import type { ObjectCache } from './object-cache.ts';

export function cachedNodeFacts(cache: Pick<ObjectCache, 'get'>): (name: string) => NodeRestoreFacts | undefined {
  return (name) => {
    const node = cache.get<Parameters<typeof nodeRestoreFacts>[0]>('Node', '', name);
    return node === undefined ? undefined : nodeRestoreFacts(node);
  };
}
