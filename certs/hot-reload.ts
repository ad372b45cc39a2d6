// Swap the certificate of a running HTTPS server. New TLS handshakes use the new
// pair; open connections keep theirs. No restart, no dropped listener.
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from '../src/log.ts';
import type { ServingCertificateSource, ServingKeyPair } from './key-pair.ts';

/** Throws (and leaves the old pair in place) when cert and key do not belong together. */
export function reloadServingCertificate(server: TlsServer, pair: ServingKeyPair): void {
  // setSecureContext merges with the server's other TLS options (minVersion, ciphers...).
  server.setSecureContext({ cert: pair.cert, key: pair.key });
}

/** Reloads the server on every change of source. Returns a function that detaches it. */
export function attachHotReload(server: TlsServer, source: ServingCertificateSource, log?: Logger): () => void {
  return source.onChange((pair) => {
    try {
      reloadServingCertificate(server, pair);
      log?.info('reloaded webhook serving certificate');
    } catch (err) {
      log?.error({ err }, 'could not load the new serving certificate; keeping the old one');
    }
  });
}
