// kcr's registry token service in front of a REAL docker-registry (distribution, auth.token),
// attacked with skopeo, an independent client: a namespace's pull credential reads its own
// namespace's checkpoints and nothing else — not another namespace's images, tags or the
// catalog, and it pushes and deletes nowhere. kcr's writer credential pushes and deletes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushCheckpointImage } from '../../src/images/push-checkpoint-image.ts';
import { RegistryClient } from '../../src/images/registry-client.ts';
import { endpointFor, parseInsecureRegistries } from '../../src/images/registry-endpoint.ts';
import { silentLogger } from '../../src/log.ts';
import { credentialEpoch, pullerCredential, writerCredential, type Credential } from '../../src/registry-access/registry-identity.ts';
import { loadTokenKeys, newTokenKeyMaterial, type TokenKeys } from '../../src/registry-access/token-keys.ts';
import { boundPort } from '../../src/net/listen.ts';
import { startTokenServer } from '../../src/registry-access/token-server.ts';
import { startRegistry, type RegistryServer } from '../support/registry.ts';

const run = promisify(execFile);
const ROTATION_SECONDS = 3600;
const SERVICE = 'kcr-registry';

let dir: string;
let keys: TokenKeys;
let tokens: Server;
let realm: string;
let reg: RegistryServer;
const pushed: Record<string, { tag: string; digest: string }> = {};

const puller = (namespace: string, epochShift = 0): Credential =>
  pullerCredential(keys.credentialKey, namespace, credentialEpoch(new Date(), ROTATION_SECONDS) + epochShift);
const creds = (c: Credential) => `${c.username}:${c.password}`;

/** skopeo's result: ok, or the first line of what it printed on failure. */
async function skopeo(args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; error: string }> {
  try {
    const { stdout } = await run('skopeo', args, { timeout: 30_000 });
    return { ok: true, stdout };
  } catch (err) {
    return { ok: false, error: String((err as { stderr?: string }).stderr ?? err) };
  }
}

async function tokenFor(c: Credential | undefined, scope: string, service = SERVICE): Promise<{ status: number; token?: string }> {
  const url = `${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`;
  const res = await fetch(url, c ? { headers: { authorization: `Basic ${Buffer.from(creds(c)).toString('base64')}` } } : {});
  const body = (await res.json()) as { token?: string };
  return { status: res.status, ...(body.token ? { token: body.token } : {}) };
}

function accessOf(token: string): unknown {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: unknown }).access;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kcr-registry-token-'));
  keys = loadTokenKeys(newTokenKeyMaterial(new Date()));
  tokens = await startTokenServer({
    keys,
    settings: { issuer: 'kcr-token-service', service: SERVICE, prefix: 'kcr', ttlSeconds: 300, rotationSeconds: ROTATION_SECONDS },
    logger: silentLogger(),
  }, '127.0.0.1', 0);
  realm = `http://127.0.0.1:${boundPort(tokens)}/token`;
  reg = await startRegistry({ token: { realm, service: SERVICE, issuer: 'kcr-token-service', rootCertBundle: keys.cert } });
  const archive = join(dir, 'checkpoint.tar');
  await writeFile(archive, randomBytes(64 * 1024));
  const client = new RegistryClient({ endpoint: endpointFor(reg.host, parseInsecureRegistries(`http://${reg.host}`)), credentials: writerCredential(keys.credentialKey) });
  for (const ns of ['team-a', 'team-b', 'team']) {
    const image = await pushCheckpointImage(client, {
      archivePath: archive, repository: `kcr/${ns}/app`, tag: 'app-20261203t000000z', architecture: 'amd64',
      container: 'app', pod: 'app-0', namespace: ns, identity: 'app-0', originalImage: 'registry.example/app:1', createdAt: new Date(),
    } as Parameters<typeof pushCheckpointImage>[1]);
    pushed[ns] = { tag: image.tag, digest: image.manifestDigest };
  }
  client.close();
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  await new Promise((r) => tokens?.close(r));
  await rm(dir, { recursive: true, force: true });
});

const ref = (ns: string, by: 'tag' | 'digest' = 'tag') => `docker://${reg.host}/kcr/${ns}/app${by === 'tag' ? `:${pushed[ns]!.tag}` : `@${pushed[ns]!.digest}`}`;

describe('a namespace pull credential (kcr-pull) against the real registry', () => {
  it("reads its own namespace's checkpoint image", async () => {
    const r = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(puller('team-a')), ref('team-a')]);
    expect(r.ok).toBe(true);
  });

  it("still reads with the previous period's password (a Secret just rotated), not with an older one", async () => {
    expect((await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(puller('team-a', -1)), ref('team-a')])).ok).toBe(true);
    const old = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(puller('team-a', -2)), ref('team-a')]);
    expect(old.ok).toBe(false);
  });

  it("cannot read another namespace's image, by tag or digest, nor one whose namespace it is a prefix of", async () => {
    for (const target of [ref('team-b'), ref('team-b', 'digest')]) {
      const r = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(puller('team-a')), target]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/unauthorized|denied|401|403/i);
    }
    const prefix = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(puller('team')), ref('team-a')]);
    expect(prefix.ok).toBe(false);
  });

  it("cannot list another namespace's tags, nor the catalog", async () => {
    const tags = await skopeo(['list-tags', '--tls-verify=false', '--creds', creds(puller('team-a')), `docker://${reg.host}/kcr/team-b/app`]);
    expect(tags.ok).toBe(false);
    const catalog = await tokenFor(puller('team-a'), 'registry:catalog:*');
    expect(catalog.status).toBe(200);
    expect(accessOf(catalog.token!)).toEqual([]);
    const listed = await fetch(`${reg.url}/v2/_catalog`, { headers: { authorization: `Bearer ${catalog.token}` } });
    expect(listed.status).toBe(401);
  });

  it("pushes nowhere: not into another namespace, not even into its own", async () => {
    for (const target of ['team-b', 'team-a']) {
      const r = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', creds(puller('team-a')), '--dest-creds', creds(puller('team-a')), ref('team-a'), `docker://${reg.host}/kcr/${target}/app:planted`]);
      expect(r.ok).toBe(false);
    }
    const planted = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(writerCredential(keys.credentialKey)), `docker://${reg.host}/kcr/team-b/app:planted`]);
    expect(planted.ok).toBe(false);
  });

  it("deletes nothing: another namespace's image is still there afterwards", async () => {
    const r = await skopeo(['delete', '--tls-verify=false', '--creds', creds(puller('team-a')), ref('team-b', 'digest')]);
    expect(r.ok).toBe(false);
    const still = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(puller('team-b')), ref('team-b')]);
    expect(still.ok).toBe(true);
  });

  it('a forged username or wrong password gets no token at all', async () => {
    expect((await tokenFor({ username: 'kcr-pull.team-b', password: puller('team-a').password }, 'repository:kcr/team-b/app:pull')).status).toBe(401);
    expect((await tokenFor({ username: 'kcr-writer', password: puller('team-a').password }, 'repository:kcr/team-b/app:pull')).status).toBe(401);
    expect((await tokenFor({ username: 'admin', password: 'admin' }, 'repository:kcr/team-b/app:pull')).status).toBe(401);
    const forged = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `kcr-pull.team-b:${puller('team-a').password}`, ref('team-b')]);
    expect(forged.ok).toBe(false);
  });

  it('anonymous gets a token with no access; a token for another service is refused', async () => {
    const anon = await tokenFor(undefined, 'repository:kcr/team-a/app:pull');
    expect(accessOf(anon.token!)).toEqual([]);
    expect((await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', ref('team-a')])).ok).toBe(false);
    expect((await tokenFor(puller('team-a'), 'repository:kcr/team-a/app:pull', 'some-other-registry')).status).toBe(400);
  });
});

describe("kcr's writer credential", () => {
  it('pushes and deletes under the prefix, and lists the catalog', async () => {
    const writer = writerCredential(keys.credentialKey);
    const copy = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', creds(writer), '--dest-creds', creds(writer), ref('team'), `docker://${reg.host}/kcr/team/copy:one`]);
    expect(copy.ok).toBe(true);
    expect((await skopeo(['delete', '--tls-verify=false', '--creds', creds(writer), ref('team', 'digest')])).ok).toBe(true);
    expect((await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(writer), ref('team')])).ok).toBe(false);
    const catalog = await tokenFor(writer, 'registry:catalog:*');
    const listed = await fetch(`${reg.url}/v2/_catalog`, { headers: { authorization: `Bearer ${catalog.token}` } });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { repositories: string[] }).repositories).toContain('kcr/team-a/app');
  });

  it('gets nothing outside the prefix', async () => {
    const t = await tokenFor(writerCredential(keys.credentialKey), 'repository:other/app:pull,push');
    expect(accessOf(t.token!)).toEqual([]);
  });
});
