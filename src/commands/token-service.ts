// Composition root of `kcr token-service`: the registry's token realm. It reads its key
// material from the mounted kcr-registry-token Secret and needs no Kubernetes API access.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseTokenServiceConfig, type Env } from '../config.ts';
import { createLogger } from '../log.ts';
import { TOKEN_KEY_FILES, loadTokenKeys } from '../registry-access/token-keys.ts';
import { boundPort } from '../net/listen.ts';
import { startTokenServer } from '../registry-access/token-server.ts';

export async function run(argv: string[], env: Env = process.env): Promise<void> {
  if (argv.length > 0) throw new Error(`kcr token-service takes no arguments (got ${argv.join(' ')}); configure it with KCR_TOKEN_* variables`);
  const config = parseTokenServiceConfig(env);
  const destination = pino.destination({ dest: 1, sync: false });
  const log = createLogger('token-service', config.logLevel, destination);
  const read = (name: string) => readFileSync(join(config.keyDir, name), 'utf8');
  const keys = loadTokenKeys({ cert: read(TOKEN_KEY_FILES.cert), key: read(TOKEN_KEY_FILES.key), credentialKey: read(TOKEN_KEY_FILES.credentialKey) });
  const tls = config.tlsCertFile && config.tlsKeyFile ? { cert: readFileSync(config.tlsCertFile, 'utf8'), key: readFileSync(config.tlsKeyFile, 'utf8') } : undefined;
  const server = await startTokenServer({
    keys,
    settings: { issuer: config.issuer, service: config.service, prefix: config.prefix, ttlSeconds: config.ttlSeconds, rotationSeconds: config.rotationSeconds },
    logger: log,
  }, config.host, config.port, tls);
  log.info({ host: config.host, port: boundPort(server), keyId: keys.signing.keyId, service: config.service, issuer: config.issuer, tls: tls !== undefined }, 'registry token service listening');

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  log.info('shutting down');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A token request takes milliseconds: one still open after this is a stuck client.
  setTimeout(() => server.closeAllConnections(), 2000).unref();
  await closed;
  try {
    destination.flushSync();
  } catch {
    // nothing buffered
  }
}
