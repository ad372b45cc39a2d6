// A TCP load balancer for kcr's webhook replicas in the local stack, as a Service spreads
// connections over its endpoints: each new connection goes to the next replica in turn, bytes
// pass through untouched (TLS ends at the replica). A connection quiet for --idle-ms is closed,
// as a server closes idle keep-alive connections: the API server then opens a new one for its
// next admission (Go's client retries a request on a connection closed while idle), so
// admissions reach every replica instead of riding one kept-alive connection. Run detached by
// kcr-stack.ts:
//   node test/cluster/tcp-round-robin.ts --listen 127.0.0.1:PORT --to 127.0.0.1:A,127.0.0.1:B [--idle-ms 200]
// It prints "ready" once it listens, and one line per connection naming the replica. A replica
// that refuses a connection (killed) is skipped for the next one.
import { createConnection, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, to: { type: 'string' }, 'idle-ms': { type: 'string', default: '200' } } });
const idleMs = Number(values['idle-ms']);
const hostPort = (s: string) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};
if (!values.listen || !values.to) throw new Error('usage: tcp-round-robin.ts --listen host:port --to host:port[,host:port...]');
const listen = hostPort(values.listen);
const targets = values.to.split(',').map(hostPort);
let next = 0;

/**
 * The next replica that accepts the connection: one that refuses it (its process is gone) is
 * skipped, as a Service drops the endpoint of a pod that died.
 */
function connectNext(tries: number, onConnected: (socket: ReturnType<typeof createConnection>, target: { host: string; port: number }) => void, onFailed: () => void): void {
  const target = targets[next++ % targets.length]!;
  const socket = createConnection(target);
  socket.once('connect', () => onConnected(socket, target));
  socket.once('error', () => {
    socket.destroy();
    if (tries + 1 < targets.length) connectNext(tries + 1, onConnected, onFailed);
    else onFailed();
  });
}

const server = createServer((client) => {
  client.pause();
  client.on('error', () => client.destroy());
  connectNext(0, (upstream, target) => {
    console.log(`connection ${next} -> ${target.host}:${target.port}`);
    proxy(client, upstream);
    client.resume();
  }, () => client.destroy());
});

function proxy(client: ReturnType<typeof createConnection>, upstream: ReturnType<typeof createConnection>): void {
  client.pipe(upstream).pipe(client);
  let last = Date.now();
  const touch = () => {
    last = Date.now();
  };
  client.on('data', touch);
  upstream.on('data', touch);
  const idle = setInterval(() => {
    if (Date.now() - last >= idleMs) close();
  }, Math.max(10, Math.floor(idleMs / 4)));
  const close = () => {
    clearInterval(idle);
    client.end();
    upstream.end();
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
}
server.listen(listen.port, listen.host, () => console.log('ready'));
