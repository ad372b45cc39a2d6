// ImageStoreConfig (env, parsed in src/config.ts) + the files it names -> ImageStoreSettings and
// the dockerconfigjson content. The only file reading of the images component.
import { readFile } from 'node:fs/promises';
import type { ImageStoreConfig } from '../config.ts';
import type { ImageStoreSettings } from './checkpoint-image-store.ts';
import { parseInsecureRegistries } from './registry-endpoint.ts';

export async function loadImageStoreSettings(
  config: ImageStoreConfig,
): Promise<{ settings: ImageStoreSettings; dockerConfigJson: string | undefined }> {
  return {
    settings: {
      registry: config.registry,
      prefix: config.repositoryPrefix,
      insecureRegistries: parseInsecureRegistries(config.insecureRegistries),
      ca: config.caFile ? await readFile(config.caFile, 'utf8') : undefined,
      compression: config.layerCompression,
    },
    dockerConfigJson: config.authFile ? await readFile(config.authFile, 'utf8') : undefined,
  };
}
