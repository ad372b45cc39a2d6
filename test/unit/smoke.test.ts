import { describe, expect, it } from 'vitest';
import { parseWebhookConfig, ConfigError } from '../../src/config.ts';

describe('config', () => {
  it('parses defaults and rejects a bad port with the key named', () => {
    expect(parseWebhookConfig({ KCR_REGISTRY: 'r.example' }).port).toBe(9443);
    expect(() => parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_PORT: 'abc' })).toThrow(ConfigError);
    expect(() => parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_PORT: 'abc' })).toThrow(/KCR_WEBHOOK_PORT/);
  });
});
