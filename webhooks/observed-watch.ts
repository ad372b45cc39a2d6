// client-node's Watch, reporting whether a watch stream is open. ListWatch's own 'connect'
// event cannot say so: it fires when a (re)connect is *attempted*, before the list or the watch
// request, and a watch that keeps timing out (an API server that stopped answering) reconnects
// forever without an 'error'. Here a watch counts as connected once the API server answered
// 200 and the stream is open, and as disconnected from the moment it ends, for any reason,
// until the next one is open (a quiet resource's watch ends every 30 s and is back within
// milliseconds).
import { Watch } from '@kubernetes/client-node';

export type ConnectionListener = (connected: boolean) => void;

/** Something that reports its watch connection going up and down (ObservedWatch; fakes in tests). */
export interface ConnectionSignal {
  onConnection(listener: ConnectionListener): void;
}

export class ObservedWatch extends Watch implements ConnectionSignal {
  readonly #listeners: ConnectionListener[] = [];

  onConnection(listener: ConnectionListener): void {
    this.#listeners.push(listener);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let ended = false;
    // Watch.watch resolves after the 200 answer with the stream attached, or after it called
    // done() for a failed request: done() having run tells the two apart.
    const controller = await super.watch(path, queryParams, callback, (err: unknown) => {
      ended = true;
      this.#emit(false);
      done(err);
    });
    if (!ended) this.#emit(true);
    return controller;
  }

  #emit(connected: boolean): void {
    for (const l of this.#listeners) l(connected);
  }
}
