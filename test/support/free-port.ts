// A port free on loopback right now (the kernel's pick), for test servers that need it up front.
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr !== null && typeof addr !== 'string' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
