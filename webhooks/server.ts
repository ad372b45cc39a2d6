// The HTTPS adapter of the restore webhook: parse and validate the AdmissionReview,
// call the pure decision, answer with an AdmissionReview. It never denies a pod:
// every answer it builds has allowed: true, and on its own failures it answers an
// error status, which the API server ignores (failurePolicy: Ignore).
import https from 'node:https';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../src/log.ts';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from './admission.ts';
import type { Decision } from './decision.ts';
import type { AdmissionOutcome, WebhookMetrics } from './metrics.ts';
import { BodyTooLargeError, readBody } from './body.ts';
import { InvalidReviewError, parseAdmissionReview, uidOf } from './review.ts';
import { decideAndClaim, type DecideAndClaimDeps } from './checkpoint-claims.ts';
import { listen } from '../src/net/listen.ts';

/** Whether the informer caches hold the cluster's state, now. */
export interface Readiness {
  synced(): boolean;
  /** Names of the caches still waiting for their initial list. */
  unsynced(): string[];
  /** Names of the caches whose watch has been disconnected longer than the bound. */
  stale(): string[];
}

/** What deciding and claiming need (index, decision, policy, clock, claims), and the adapter's own. */
export interface WebhookAppDeps extends DecideAndClaimDeps {
  metrics: WebhookMetrics;
  logger: Logger;
  readiness: Readiness;
  /** True once shutdown began: /readyz turns 503 so the Service stops routing here. */
  draining?: () => boolean;
  /** Largest body accepted on /mutate; larger gets 413. */
  maxBodyBytes: number;
  /**
   * Admissions handled at once; more get 429 at once (the API server ignores the failure and
   * the pod starts fresh). With maxBodyBytes it bounds the memory that bodies can take.
   */
  maxInFlight: number;
}

/** application/json, with parameters (charset=utf-8), or a +json type. */
const JSON_TYPE = /^\s*application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/** An error answered with its own status and message (bad input, not a bug of ours). */
class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

// Written directly: express's res.send negotiates and converts more than a JSON answer needs.
function sendJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The pod's name for logs: pods made by controllers only have a generateName at CREATE. */
function podName(request: AdmissionRequest): string | undefined {
  if (request.name) return request.name;
  const meta = (request.object as { metadata?: { name?: unknown; generateName?: unknown } } | undefined)?.metadata;
  if (typeof meta?.name === 'string' && meta.name !== '') return meta.name;
  return typeof meta?.generateName === 'string' ? `${meta.generateName}*` : undefined;
}

/** Reasons not worth a line per pod: the pod is not kcr's business, or it is a re-invocation. */
const QUIET_REASONS: ReadonlySet<string> = new Set(['not-opted-in', 'opted-out', 'already-restored', 'not-pod', 'not-create', 'dry-run', 'excluded-namespace']);

/** What the adapter answers: the decision, or "unchanged" for its own reasons (not synced, stale). */
type Answer = Decision | { kind: 'unchanged'; reason: string };

export function buildAdmissionResponse(uid: string, decision: Answer): AdmissionReview {
  const response: AdmissionResponse = { uid, allowed: true };
  if (decision.kind === 'patch' && decision.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** The express app, built from its dependencies only: tests build it without a cluster. */
export function createWebhookApp(deps: WebhookAppDeps): express.Express {
  const { logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  // ETags would hash every response body; nobody caches admission answers.
  app.set('etag', false);

  app.get('/livez', (_req, res) => {
    sendJson(res, 200, { status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    if (deps.draining?.()) {
      sendJson(res, 503, { status: 'shutting down', unsynced: [] });
    } else if (!deps.readiness.synced()) {
      sendJson(res, 503, { status: 'not ready', unsynced: deps.readiness.unsynced() });
    } else {
      const stale = deps.readiness.stale();
      if (stale.length > 0) sendJson(res, 503, { status: 'stale index', unsynced: [], stale });
      else sendJson(res, 200, { status: 'ok' });
    }
  });

  app.get('/metrics', async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.status(200).type(metrics.registry.contentType).send(text);
  });

  let inFlight = 0;
  app.post('/mutate', async (req, res, next) => {
    const started = performance.now();
    res.locals.started = started;
    if (inFlight >= deps.maxInFlight) {
      req.resume();
      res.setHeader('retry-after', '1');
      return next(new HttpError(429, 'too-many-requests', `more than ${deps.maxInFlight} admissions at once; the pod starts fresh`));
    }
    inFlight++;
    res.once('close', () => {
      inFlight--;
    });
    const type = req.headers['content-type'];
    if (type === undefined || !JSON_TYPE.test(type)) {
      req.resume(); // discard the body, keep the connection usable
      return next(new HttpError(415, 'unsupported-media-type',
        `Content-Type must be application/json, got ${JSON.stringify(type ?? '')}`));
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      req.resume();
      return next(new HttpError(415, 'unsupported-content-encoding', `Content-Encoding ${JSON.stringify(encoding)} is not supported`));
    }
    const raw = await readBody(req, deps.maxBodyBytes);
    if (raw.length === 0) {
      return next(new HttpError(400, 'empty-body', 'request body is empty: expected an AdmissionReview'));
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return next(new HttpError(400, 'invalid-json', `request body is not valid JSON: ${(err as Error).message}`));
    }
    res.locals.uid = uidOf(body);
    let request: AdmissionRequest;
    try {
      request = parseAdmissionReview(body);
    } catch (err) {
      if (err instanceof InvalidReviewError) {
        return next(new HttpError(400, 'invalid-review', `not an admission.k8s.io/v1 AdmissionReview: ${err.message}`));
      }
      throw err;
    }
    res.locals.request = request;

    // Before the caches hold the cluster, "the source pod is gone" cannot be told from
    // "not listed yet": restoring then could clone a running pod, so the pod starts fresh. The
    // same while a watch has been away too long: the cache may have missed that pod coming back.
    const decision: Answer = !deps.readiness.synced()
      ? { kind: 'unchanged', reason: 'index-not-synced' }
      : deps.readiness.stale().length > 0
        ? { kind: 'unchanged', reason: 'stale-index' }
        : await decideAndClaim(deps, request, (err, d) => logger.warn({ namespace: d.namespace, pod: podName(request), uid: request.uid,
          code: (err as { code?: unknown } | null)?.code, err }, 'could not claim the checkpoint; the pod starts fresh'));
    const review = buildAdmissionResponse(request.uid, decision);
    sendJson(res, 200, review);

    const durationMs = performance.now() - started;
    const outcome: AdmissionOutcome = review.response!.patch ? 'patched' : 'unchanged';
    metrics.recordAdmission(outcome, decision.reason, durationMs / 1000);
    if (outcome === 'patched') {
      const restored = decision.kind === 'patch' ? decision.restored : [];
      logger.info({ namespace: request.namespace, pod: podName(request), uid: request.uid, reason: decision.reason,
        outcome, durationMs, restored }, 'pod restored from checkpoint');
    } else if (decision.kind === 'unchanged' && 'identity' in decision && decision.identity !== undefined && !QUIET_REASONS.has(decision.reason)) {
      // An opted-in pod that starts fresh: why, on record (kubectl logs), for its owner and for the soak's checks.
      logger.info({ namespace: request.namespace, pod: podName(request), identity: decision.identity, uid: request.uid, reason: decision.reason,
        outcome, durationMs }, 'pod starts fresh');
    } else if (logger.isLevelEnabled('debug')) {
      logger.debug({ namespace: request.namespace, pod: podName(request), uid: request.uid, reason: decision.reason,
        outcome, durationMs, operation: request.operation }, 'admission unchanged');
    }
  });

  app.use((req, res) => {
    sendJson(res, 404, { message: `no route for ${req.method} ${req.path}` });
  });

  // Express 5 routes both thrown errors and body-parser failures here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const started = res.locals.started as number | undefined;
    const durationMs = started === undefined ? undefined : performance.now() - started;
    const uid = res.locals.uid as string | undefined;
    const request = res.locals.request as AdmissionRequest | undefined;
    let status: number;
    let reason: string;
    let message: string;
    if (err instanceof HttpError) {
      ({ status, reason, message } = err);
    } else if (err instanceof BodyTooLargeError) {
      status = 413;
      reason = 'body-too-large';
      message = err.message;
    } else {
      status = 500;
      reason = 'internal-error';
      message = 'internal error while deciding on the pod; see the webhook logs';
    }
    if (durationMs !== undefined) metrics.recordAdmission('error', reason, durationMs / 1000);
    const fields = { namespace: request?.namespace, pod: request ? podName(request) : undefined, uid, reason,
      outcome: 'error', durationMs, status, path: req.path };
    if (status >= 500) logger.error({ ...fields, err }, 'admission failed');
    else logger.warn({ ...fields, error: message }, 'rejected admission request');
    if (res.headersSent) return;
    sendJson(res, status, { message });
  });

  return app;
}

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface StartWebhookServerOptions {
  app: express.Express;
  tls: TlsMaterial;
  /**
   * PEM of the CA that signs the API server's client certificate for webhooks: when set, a
   * client without a certificate it signed is refused at the TLS handshake (nobody else can ask
   * the webhook what it would restore).
   */
  clientCa?: string | Buffer | undefined;
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** Listens with TLS; resolves once the socket is bound. Certificates can be swapped with server.setSecureContext. */
export async function startWebhookServer(opts: StartWebhookServerOptions): Promise<https.Server> {
  const server = https.createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    ...(opts.clientCa !== undefined ? { ca: opts.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    minVersion: 'TLSv1.2',
    // The API server keeps connections open between reviews.
    keepAliveTimeout: 65_000,
    headersTimeout: 20_000,
    requestTimeout: 30_000,
  }, opts.app);
  await listen(server, opts.host, opts.port);
  return server;
}

/**
 * Stops accepting connections and waits for in-flight requests, at most deadlineMs;
 * then drops what is left. Idle keep-alive connections are closed at once.
 */
export async function closeWebhookServer(server: https.Server, deadlineMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, deadlineMs);
  });
  await Promise.race([closed, deadline]);
  clearTimeout(timer);
}
