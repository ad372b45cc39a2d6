// The one place kcr's image code does HTTP: node:http(s) with keep-alive, streaming request
// bodies with backpressure (pipe), small bounded response bodies. A function type, so tests
// wrap it (count requests) without mocking modules.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable, finished } from 'node:stream';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | Readable;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Up to 1 MiB of the body, as text (manifests, tokens and error documents are small). */
  text: string;
}

export type HttpTransport = (req: HttpRequest) => Promise<HttpResponse>;

export interface HttpTransportOptions {
  /** Verify HTTPS certificates (default true). */
  tlsVerify?: boolean;
  /** Extra trusted CA certificates (PEM). */
  ca?: string | undefined;
  /** Abort when the socket is idle this long (default 60 s); a long upload that moves is fine. */
  idleTimeoutMs?: number;
}

/** Raised when the request body stream fails (the archive could not be read), not the network. */
export class BodySourceError extends Error {
  override name = 'BodySourceError';
}

const MAX_RESPONSE_BYTES = 1 << 20;

export interface ClosableTransport extends HttpTransport {
  close(): void;
}

export function createHttpTransport(options: HttpTransportOptions = {}): ClosableTransport {
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 8,
    rejectUnauthorized: options.tlsVerify ?? true,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  const idle = options.idleTimeoutMs ?? 60_000;

  const transport = (req: HttpRequest): Promise<HttpResponse> =>
    new Promise((resolve, reject) => {
      const https = req.url.startsWith('https:');
      const headers: Record<string, string> = { ...req.headers };
      if (req.body instanceof Uint8Array) headers['content-length'] = String(req.body.byteLength);
      else if (req.body === undefined && req.method !== 'GET' && req.method !== 'HEAD') headers['content-length'] = '0';
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const r = (https ? httpsRequest : httpRequest)(
        req.url,
        { method: req.method, headers, agent: https ? httpsAgent : httpAgent, timeout: idle },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) {
              chunks.push(c);
              size += c.length;
            }
          });
          res.on('end', () => {
            if (settled) return;
            const status = res.statusCode ?? 0;
            const done = () => {
              if (settled) return;
              settled = true;
              resolve({ status, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
            };
            const body = req.body;
            if (!(body instanceof Readable) || body.readableEnded) return done();
            if (status >= 300) {
              // Refused before the body was fully sent (e.g. 401 mid-upload): stop reading the
              // source, and do not reuse a connection that carries half a request body.
              body.destroy();
              r.destroy();
              return done();
            }
            // Accepted: the server has every byte (Content-Length) but the source may not have
            // seen its end-of-file yet; wait for it, so digests computed on the way are final.
            finished(body, () => done());
          });
          res.on('error', fail);
        },
      );
      r.on('timeout', () => r.destroy(Object.assign(new Error(`no progress for ${idle} ms`), { code: 'ETIMEDOUT' })));
      r.on('error', fail);
      if (req.body instanceof Readable) {
        const body = req.body;
        body.on('error', (err) => {
          const e = new BodySourceError(err.message, { cause: err });
          fail(e);
          r.destroy(e);
        });
        body.pipe(r);
      } else {
        r.end(req.body);
      }
    });

  return Object.assign(transport, {
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  });
}
