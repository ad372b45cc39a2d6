// A TCP load balancer for kcr's webhook replicas in the local stack, as a Service spreads
// connections over its endpoints: each new connection goes to the next replica in turn, bytes
// pass through untouched (TLS ends at the replica). Run detached by kcr-stack.ts:
//   node test/cluster/tcp-round-robin.ts --listen 127.0.0.1:PORT --to 127.0.0.1:A,127.0.0.1:B
// It prints "ready" once it listens, and one line per connection naming the replica.
import { createConnection, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, to: { type: 'string' } } });
const hostPort = (s: string) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};
if (!values.listen || !values.to) throw new Error('usage: tcp-round-robin.ts --listen host:port --to host:port[,host:port...]');
const listen = hostPort(values.listen);
const targets = values.to.split(',').map(hostPort);
let next = 0;

const server = createServer((client) => {
  const target = targets[next++ % targets.length]!;
  const upstream = createConnection(target);
  console.log(`connection ${next} -> ${target.host}:${target.port}`);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(listen.port, listen.host, () => console.log('ready'));
