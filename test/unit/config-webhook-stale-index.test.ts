// KCR_WEBHOOK_STALE_INDEX_SECONDS: how long a watch may be away before the webhook stops restoring.
import { describe, expect, it } from 'vitest';
import { parseWebhookConfig } from '../../src/config.ts';

describe('KCR_WEBHOOK_STALE_INDEX_SECONDS', () => {
  it('defaults to 30 s, is a setting, and refuses what would flap or never trip', () => {
    expect(parseWebhookConfig({ KCR_REGISTRY: 'r.example' }).staleIndexSeconds).toBe(30);
    expect(parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_STALE_INDEX_SECONDS: '120' }).staleIndexSeconds).toBe(120);
    expect(() => parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_STALE_INDEX_SECONDS: '1' })).toThrow(/KCR_WEBHOOK_STALE_INDEX_SECONDS must be an integer between 5 and 3600, got "1"/);
    expect(() => parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_STALE_INDEX_SECONDS: '1h' })).toThrow(/KCR_WEBHOOK_STALE_INDEX_SECONDS/);
  });
});
