// Builds the harness's own small Go programs (the node runtime simulator, the network
// namespace forwarder) once, cached outside the checkout by a hash of their sources, so fresh
// clones reuse the binary and a changed source rebuilds it. Modules come from the Go proxy.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function toolCacheDir(): string {
  const base = process.env['KCR_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'kcr');
  return join(base, 'go-tools');
}

/** Hash of a Go module's build inputs: go.mod, go.sum and every non-test .go file. */
export function goSourceHash(moduleDir: string): string {
  const hash = createHash('sha256');
  const files = readdirSync(moduleDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f === 'go.mod' || f === 'go.sum' || (f.endsWith('.go') && !f.endsWith('_test.go')))
    .sort();
  for (const f of files) {
    hash.update(f);
    hash.update(readFileSync(join(moduleDir, f)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Builds the main package `pkg` of `moduleDir` as `<name>-<hash>` (once) and returns its path. */
export function buildGoTool(moduleDir: string, name: string, pkg = '.'): string {
  const dir = toolCacheDir();
  const bin = join(dir, `${name}-${goSourceHash(moduleDir)}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  execFileSync('go', ['build', '-trimpath', '-o', tmp, pkg], {
    cwd: moduleDir,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // Atomic: two builders racing both end with a complete binary under the final name.
  renameSync(tmp, bin);
  return bin;
}
