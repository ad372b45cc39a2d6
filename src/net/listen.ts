// Starting a server: resolves once it listens, rejects with the listen error (EADDRINUSE, EACCES)
// instead of leaving it unhandled.
import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';

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

export interface ListeningServer {
  port: number;
  /** Stops listening and drops open connections (keep-alive ones included). */
  close(): Promise<void>;
}

/** An HTTP server listening, with its port and a close that does not wait on idle keep-alive connections. */
export async function serveHttp(server: HttpServer, host: string, port: number): Promise<ListeningServer> {
  server.keepAliveTimeout = 5_000;
  await listen(server, host, port);
  return {
    port: boundPort(server),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
