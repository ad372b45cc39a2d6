import { describe, expect, it } from 'vitest';
import { ConfigError, parseImageStoreConfig } from '../../../src/config.ts';

describe('parseImageStoreConfig', () => {
  it('wants the registry named, saying what it must be, and ships no default one', () => {
    for (const env of [{}, { KCR_REGISTRY: '' }]) {
      expect(() => parseImageStoreConfig(env)).toThrow(ConfigError);
      expect(() => parseImageStoreConfig(env)).toThrow(/KCR_REGISTRY is not set: .*resolves and trusts/);
    }
  });

  it('has defaults that verify TLS and push uncompressed archives', () => {
    expect(parseImageStoreConfig({ KCR_REGISTRY: 'registry.example:5000' })).toEqual({
      registry: 'registry.example:5000',
      repositoryPrefix: 'kcr',
      insecureRegistries: '',
      authFile: undefined,
      caFile: undefined,
      layerCompression: 'none',
    });
  });

  it('reads the settings and rejects an unknown compression', () => {
    expect(
      parseImageStoreConfig({ KCR_REGISTRY: 'r.example:443', KCR_LAYER_COMPRESSION: 'gzip', KCR_REGISTRY_AUTH_FILE: '/var/run/kcr/auth.json' }),
    ).toMatchObject({ registry: 'r.example:443', layerCompression: 'gzip', authFile: '/var/run/kcr/auth.json' });
    expect(() => parseImageStoreConfig({ KCR_REGISTRY: 'r.example', KCR_LAYER_COMPRESSION: 'zstd' })).toThrow(ConfigError);
  });
});
