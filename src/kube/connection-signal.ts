// Whether an informer's watch stream is open: up once the API server answered 200 with the stream
// attached, down from the moment it ends until the next one is open. Readiness and staleness
// (webhooks/informers.ts) follow it.
export type ConnectionListener = (connected: boolean) => void;

/** Something that reports its watch connection going up and down (ProjectedInformer; fakes in tests). */
export interface ConnectionSignal {
  onConnection(listener: ConnectionListener): void;
}
