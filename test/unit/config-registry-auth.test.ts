// Token mode's settings: one parse, clear errors for what would otherwise fail later.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseControllerConfig, parseTokenServiceConfig, parseWebhookConfig } from '../../src/config.ts';

describe('KCR_REGISTRY_AUTH', () => {
  it('token mode gives the webhook the kcr-pull Secret, whatever KCR_WEBHOOK_PULL_SECRET says', () => {
    expect(parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_REGISTRY_AUTH: 'token', KCR_WEBHOOK_PULL_SECRET: 'mine' })).toMatchObject({ registryAuth: 'token', pullSecretName: 'kcr-pull' });
    expect(parseWebhookConfig({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_PULL_SECRET: 'mine' })).toMatchObject({ registryAuth: 'static', pullSecretName: 'mine' });
  });

  it('refuses anything but token or static, and a rotation period under a minute', () => {
    expect(() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_REGISTRY_AUTH: 'htpasswd' })).toThrow(ConfigError);
    expect(() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_REGISTRY_AUTH: 'htpasswd' })).toThrow(/KCR_REGISTRY_AUTH must be "token" or "static"/);
    expect(() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_PULL_CREDENTIAL_ROTATION_SECONDS: '5' })).toThrow(/KCR_PULL_CREDENTIAL_ROTATION_SECONDS/);
  });
});

describe('parseTokenServiceConfig', () => {
  it('has defaults that match manifests/ and the registry config in the README', () => {
    expect(parseTokenServiceConfig({})).toMatchObject({ port: 5001, keyDir: '/etc/kcr/registry-token', issuer: 'kcr-token-service', service: 'kcr-registry', ttlSeconds: 300, rotationSeconds: 86_400, prefix: 'kcr' });
  });

  it('wants a TLS certificate and key together', () => {
    expect(() => parseTokenServiceConfig({ KCR_TOKEN_TLS_CERT: '/c.pem' })).toThrow(/go together/);
    expect(parseTokenServiceConfig({ KCR_TOKEN_TLS_CERT: '/c.pem', KCR_TOKEN_TLS_KEY: '/k.pem' })).toMatchObject({ tlsCertFile: '/c.pem', tlsKeyFile: '/k.pem' });
  });
});
