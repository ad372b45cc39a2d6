// Image references as container runtimes normalise them, and the pull-secret lookup.
import { describe, expect, it } from 'vitest';
import { isLoopbackRegistry, parseImageRef, repositoryName } from '../../cluster/sim-node/image-ref.ts';
import { credentialsFor } from '../../cluster/sim-node/pull-credentials.ts';
import { restoreFailureMatches } from '../../cluster/sim-node/annotations.ts';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseImageRef', () => {
  it.each([
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['nginx:1.27', { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' }],
    ['bitnami/redis:7', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['127.0.0.1:5000/ns/web-0:ckpt', { registry: '127.0.0.1:5000', repository: 'ns/web-0', tag: 'ckpt' }],
    [`127.0.0.1:5000/ns/web-0@${D}`, { registry: '127.0.0.1:5000', repository: 'ns/web-0', digest: D }],
    [`registry.k8s.io/pause:3.10@${D}`, { registry: 'registry.k8s.io', repository: 'pause', tag: '3.10', digest: D }],
  ])('%s', (image, want) => {
    expect(parseImageRef(image)).toEqual(want);
  });

  it.each(['', 'Upper/Case', 'a b', `x@sha256:abc`, 'reg:5000/', 'a//b'])('rejects %j', (image) => {
    expect(() => parseImageRef(image)).toThrow(/invalid/);
  });

  it('names the repository as imageIDs do', () => {
    expect(repositoryName(parseImageRef('nginx:1'))).toBe('docker.io/library/nginx');
  });

  it('knows which registries are on loopback', () => {
    expect(isLoopbackRegistry('127.0.0.1:5000')).toBe(true);
    expect(isLoopbackRegistry('127.3.4.5:80')).toBe(true);
    expect(isLoopbackRegistry('localhost:5000')).toBe(true);
    expect(isLoopbackRegistry('[::1]:5000')).toBe(true);
    expect(isLoopbackRegistry('docker.io')).toBe(false);
    expect(isLoopbackRegistry('127.0.0.1.nip.io:5000')).toBe(false);
  });
});

describe('credentialsFor', () => {
  const doc = (auths: object) => JSON.stringify({ auths });
  it('finds username/password or the base64 auth of the image registry', () => {
    expect(credentialsFor(doc({ '127.0.0.1:5000': { username: 'u', password: 'p' } }), '127.0.0.1:5000')).toEqual({ username: 'u', password: 'p' });
    const auth = Buffer.from('kcr:s3:cret').toString('base64');
    expect(credentialsFor(doc({ 'https://reg.example:443/v2/': { auth } }), 'reg.example:443')).toEqual({ username: 'kcr', password: 's3:cret' });
  });
  it('nothing for another registry or a malformed document', () => {
    expect(credentialsFor(doc({ 'other:1': { username: 'u', password: 'p' } }), '127.0.0.1:5000')).toBeUndefined();
    expect(credentialsFor('{not json', '127.0.0.1:5000')).toBeUndefined();
    expect(credentialsFor(doc({ 'r:1': { auth: Buffer.from('nocolon').toString('base64') } }), 'r:1')).toBeUndefined();
  });
});

describe('restoreFailureMatches (sim.kcr.io/fail-restore)', () => {
  const image = '127.0.0.1:5000/shop/web-0:ckpt-3';
  const id = `127.0.0.1:5000/shop/web-0@${D}`;
  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['true', true],
    ['ckpt-3', true],
    ['ckpt-2, ckpt-3', true],
    ['ckpt-2', false],
    [D, true],
    [' , ', false],
  ])('%j -> %s', (value, want) => {
    expect(restoreFailureMatches(value, image, id)).toBe(want);
  });
});
