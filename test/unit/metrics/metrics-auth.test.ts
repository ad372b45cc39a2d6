// KCR_METRICS_AUTH=kubernetes: a scrape needs a bearer token the API server authenticates
// (TokenReview) whose user may get /metrics (SubjectAccessReview); answers are kept a minute.
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import type { KubeJson } from '../../../src/kube/kube-json.ts';
import { bearerToken, metricsAccess, metricsAuthorizer } from '../../../src/metrics/metrics-auth.ts';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/metrics-server.ts';

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def', 'abc.def'],
    ['bearer abc', 'abc'],
    ['Basic dXNlcjpwdw==', undefined],
    ['Bearer ', undefined],
    [undefined, undefined],
  ])('%j → %j', (header, token) => expect(bearerToken(header)).toBe(token));
});

describe('metricsAccess', () => {
  it.each([
    ['authenticated and allowed', { authenticated: true, user: { username: 'system:serviceaccount:monitoring:prometheus' } }, true, 'allowed'],
    ['authenticated, not allowed', { authenticated: true, user: { username: 'alice' } }, false, 'forbidden'],
    ['authenticated, SubjectAccessReview silent', { authenticated: true, user: { username: 'alice' } }, undefined, 'forbidden'],
    ['not authenticated', { authenticated: false }, true, 'unauthenticated'],
    ['authenticated without a user name', { authenticated: true, user: {} }, true, 'unauthenticated'],
    ['no review at all', undefined, undefined, 'unauthenticated'],
  ] as const)('%s', (_what, review, allowed, want) => expect(metricsAccess(review, allowed)).toBe(want));
});

/** The API server's two reviews: tokens and who may read /metrics. */
function fakeApi(users: Record<string, string>, readers: string[], opts: { down?: boolean } = {}) {
  const calls: Array<{ path: string; body: unknown }> = [];
  const api = {
    create: async (path: string, body: { spec: { token?: string; user?: string; nonResourceAttributes?: { path: string; verb: string } } }) => {
      calls.push({ path, body });
      if (opts.down) throw new Error('connect ECONNREFUSED');
      if (path.endsWith('/tokenreviews')) {
        const user = users[body.spec.token ?? ''];
        return { status: user ? { authenticated: true, user: { username: user, groups: ['system:authenticated'] } } : { authenticated: false } };
      }
      const a = body.spec.nonResourceAttributes;
      return { status: { allowed: readers.includes(body.spec.user ?? '') && a?.path === '/metrics' && a.verb === 'get' } };
    },
  } as unknown as KubeJson;
  return { api, calls };
}

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('the metrics server behind metricsAuthorizer', () => {
  async function serve(api: KubeJson, now = () => 0) {
    const registry = new Registry();
    new Counter({ name: 'kcr_test_total', help: 'x', registers: [registry] }).inc();
    server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, authorize: metricsAuthorizer(api, { now }) });
    return (token?: string) => fetch(`http://127.0.0.1:${server!.port}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  }

  it('serves a reader, refuses others with 401 or 403, and says 503 when the API server cannot tell', async () => {
    const { api } = fakeApi({ 'prom-token': 'prometheus', 'alice-token': 'alice' }, ['prometheus']);
    const scrape = await serve(api);
    const ok = await scrape('prom-token');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('kcr_test_total 1');
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await scrape('forged')).status).toBe(401);
    expect((await scrape('alice-token')).status).toBe(403);
    await server!.close();
    const down = await serve(fakeApi({}, [], { down: true }).api);
    expect((await down('prom-token')).status).toBe(503);
  });

  it('asks the API server once a minute per token, not per scrape; a failed check is not kept', async () => {
    let now = 0;
    const { api, calls } = fakeApi({ 'prom-token': 'prometheus' }, ['prometheus']);
    const scrape = await serve(api, () => now);
    for (let i = 0; i < 3; i++) expect((await scrape('prom-token')).status).toBe(200);
    expect(calls.map((c) => c.path.split('/').pop())).toEqual(['tokenreviews', 'subjectaccessreviews']);
    now = 60_000;
    expect((await scrape('prom-token')).status).toBe(200);
    expect(calls).toHaveLength(4);
  });
});
