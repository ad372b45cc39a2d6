// Reads a request body into one Buffer, up to a limit. Replaces body-parser on the
// admission path: the body is read once, as bytes, and parsed by the handler, which
// needs nothing of content negotiation beyond "is it JSON".
import type { IncomingMessage } from 'node:http';

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  readonly limit: number;
  constructor(limit: number) {
    super(`request body is larger than the limit of ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * Resolves with the body, or rejects with BodyTooLargeError once the request has been
 * read to its end (so the client, still sending, reliably gets the answer).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let over = Number.isFinite(declared) && declared > limit;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) reject(new BodyTooLargeError(limit));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}
