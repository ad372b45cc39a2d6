// A response body read to its end but kept only up to a bound (an answer that big is an error
// message or garbage either way), so one call never holds an unbounded buffer.
import type { IncomingMessage } from 'node:http';

export function readBoundedBody(res: IncomingMessage, maxBytes: number, onEnd: (text: string) => void, onError: (err: Error) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= maxBytes) chunks.push(c);
  });
  res.on('error', onError);
  res.on('end', () => onEnd(Buffer.concat(chunks).toString('utf8')));
}
