// KCR_WEBHOOK_EXTRA_SANS: extra names for the webhook's serving certificate, e.g. 127.0.0.1
// when the API server dials the webhook by URL (the cluster tests do).
import { describe, expect, it } from 'vitest';
import { ConfigError, parseWebhookConfig } from '../../src/config.ts';

describe('KCR_WEBHOOK_EXTRA_SANS', () => {
  it('is empty when unset or blank', () => {
    for (const v of [undefined, '', ' ']) {
      const c = parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_EXTRA_SANS: v });
      expect([c.extraDnsNames, c.extraIpAddresses]).toEqual([[], []]);
    }
  });

  it('splits IP addresses (v4 and v6) from DNS names, trimming spaces', () => {
    const c = parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_EXTRA_SANS: '127.0.0.1, ::1 ,localhost,kcr.example.com,*.kcr.example.com' });
    expect(c.extraIpAddresses).toEqual(['127.0.0.1', '::1']);
    expect(c.extraDnsNames).toEqual(['localhost', 'kcr.example.com', '*.kcr.example.com']);
  });

  it.each(['https://127.0.0.1', 'host name', '127.0.0.1:9443', 'a..b', '-leading.example'])('rejects %j naming the variable', (bad) => {
    expect(() => parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_EXTRA_SANS: bad })).toThrow(ConfigError);
    expect(() => parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_EXTRA_SANS: bad })).toThrow('KCR_WEBHOOK_EXTRA_SANS');
  });
});
