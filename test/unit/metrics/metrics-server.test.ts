// The shared plain-HTTP metrics endpoint: /metrics in Prometheus' text format, nothing else.
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Gauge, Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/metrics-server.ts';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('startMetricsServer', () => {
  it('serves its registry on GET /metrics, 404 elsewhere, 405 for writes', async () => {
    const registry = new Registry();
    new Counter({ name: 'kcr_test_total', help: 'a test counter', registers: [registry] }).inc(3);
    server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0 });
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('kcr_test_total 3');
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 500 and reports when a collection fails, and keeps serving', async () => {
    const registry = new Registry();
    let fail = true;
    new Gauge({ name: 'kcr_flaky', help: 'fails once', registers: [registry], collect() { if (fail) throw new Error('boom'); this.set(1); } });
    const errors: unknown[] = [];
    server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, onError: (err) => errors.push(err) });
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(500);
    expect(errors).toHaveLength(1);
    fail = false;
    expect(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()).toContain('kcr_flaky 1');
  });
});
