// KCR_METRICS_PORT / KCR_METRICS_HOST (every component), KCR_LIVENESS_TIMEOUT_SECONDS (controller,
// agent) and KCR_QUEUE_METRICS_INTERVAL_SECONDS (controller).
import { describe, expect, it } from 'vitest';
import { parseAgentConfig, parseControllerConfig, parseWebhookConfig } from '../../src/config.ts';

const agentEnv = { NODE_NAME: 'n1', KCR_REGISTRY: 'r.example', KCR_REDIS_URL: 'redis://127.0.0.1:6379' };
const registry = { KCR_REGISTRY: 'r.example' };

describe('metrics and liveness settings', () => {
  it('serve metrics on 0.0.0.0:8080 in every component by default, and take another port and address', () => {
    for (const parse of [(env: Record<string, string>) => parseWebhookConfig({ ...registry, ...env }), (env: Record<string, string>) => parseControllerConfig({ ...registry, ...env }), (env: Record<string, string>) => parseAgentConfig({ ...agentEnv, ...env })]) {
      expect(parse({})).toMatchObject({ metricsPort: 8080, metricsHost: '0.0.0.0' });
      expect(parse({ KCR_METRICS_PORT: '9090', KCR_METRICS_HOST: '127.0.0.1' })).toMatchObject({ metricsPort: 9090, metricsHost: '127.0.0.1' });
      expect(parse({ KCR_METRICS_PORT: '0' }).metricsPort).toBe(0);
      expect(() => parse({ KCR_METRICS_PORT: '70000' })).toThrow(/KCR_METRICS_PORT must be an integer between 0 and 65535, got "70000"/);
      expect(() => parse({ KCR_METRICS_PORT: 'http' })).toThrow(/KCR_METRICS_PORT/);
    }
  });

  it('let a main loop be quiet 120 s before /livez fails, within 2 s to an hour', () => {
    expect(parseControllerConfig(registry).livenessTimeoutMs).toBe(120_000);
    expect(parseAgentConfig(agentEnv).livenessTimeoutMs).toBe(120_000);
    expect(parseAgentConfig({ ...agentEnv, KCR_LIVENESS_TIMEOUT_SECONDS: '30' }).livenessTimeoutMs).toBe(30_000);
    expect(() => parseControllerConfig({ ...registry, KCR_LIVENESS_TIMEOUT_SECONDS: '1' })).toThrow(/KCR_LIVENESS_TIMEOUT_SECONDS must be an integer between 2 and 3600, got "1"/);
  });

  it('read the node queues for kcr_queue_jobs at most every 15 s by default', () => {
    expect(parseControllerConfig(registry).queueMetricsIntervalMs).toBe(15_000);
    expect(parseControllerConfig({ ...registry, KCR_QUEUE_METRICS_INTERVAL_SECONDS: '60' }).queueMetricsIntervalMs).toBe(60_000);
    expect(() => parseControllerConfig({ ...registry, KCR_QUEUE_METRICS_INTERVAL_SECONDS: '0' })).toThrow(/KCR_QUEUE_METRICS_INTERVAL_SECONDS/);
  });
});

describe('KCR_METRICS_AUTH', () => {
  it('is off by default, "kubernetes" turns the TokenReview and SubjectAccessReview check on, anything else is refused', () => {
    expect(parseControllerConfig(registry).metricsAuth).toBe('none');
    expect(parseWebhookConfig({ ...registry, KCR_METRICS_AUTH: 'kubernetes' }).metricsAuth).toBe('kubernetes');
    expect(parseAgentConfig({ ...agentEnv, KCR_METRICS_AUTH: 'kubernetes' }).metricsAuth).toBe('kubernetes');
    expect(() => parseControllerConfig({ ...registry, KCR_METRICS_AUTH: 'token' })).toThrow(/KCR_METRICS_AUTH must be "none" or "kubernetes", got "token"/);
  });
});
