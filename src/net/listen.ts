// Starting a server: resolves once it listens, rejects with the listen error (EADDRINUSE, EACCES)
// instead of leaving it unhandled.
import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

export async function listen(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The port a listening server got (port 0 asks the kernel for a free one). */
export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
