// Checkpoint images for the agent: one CheckpointImageStore per content of the registry
// Secret, so credentials rotated in the Secret are used from the next job on, while jobs with
// unchanged credentials share one store (its keep-alive connections and digest cache, which
// lets a retried push skip a layer already uploaded). Credentials stay inside the store.
import { createHash } from 'node:crypto';
import { CheckpointImageStore, type ImageStoreSettings, type PushArchiveInput } from '../images/checkpoint-image-store.ts';
import type { HttpTransport } from '../images/http-transport.ts';
import type { PushedImage } from '../images/push-checkpoint-image.ts';

export interface ImagePusher {
  readonly registry: string;
  push(input: PushArchiveInput): Promise<PushedImage>;
}

export type ImagePushers = (dockerConfigJson: string | undefined) => ImagePusher;

export function createImagePushers(settings: ImageStoreSettings, transport?: HttpTransport): ImagePushers & { close(): void } {
  let current: { key: string; store: CheckpointImageStore } | undefined;
  const pushers = (dockerConfigJson: string | undefined): ImagePusher => {
    const key = dockerConfigJson === undefined ? '' : createHash('sha256').update(dockerConfigJson).digest('hex');
    if (current?.key !== key) {
      // Jobs still pushing with the old store finish on it; its sockets close when idle.
      current = { key, store: new CheckpointImageStore(settings, { dockerConfigJson, ...(transport ? { transport } : {}) }) };
    }
    return current.store;
  };
  return Object.assign(pushers, { close: () => current?.store.close() });
}
