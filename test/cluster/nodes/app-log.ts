// The sample app's state as a user sees it: `kubectl logs --timestamps` of the container. Every
// container on a local node runs the counter app of the runtime simulator (../cri-sim), which
// logs how it started (fresh, or restored from a checkpoint image at a counter) and then
// `counter=N` each second.
import type { CoreV1Api } from '@kubernetes/client-node';

export interface AppState {
  counter: number;
  /** When this run of the app started (the log timestamp of its first line). */
  startedAt: string;
  /** The checkpoint image this run was restored from; absent for a fresh start. */
  restoredFrom?: string;
  /** The counter the run was restored at (the checkpoint's value). */
  restoredAt?: number;
}

const LINE = /^(\S+) (.*)$/;
const RESTORED = /^kcr-sim app restored from (\S+) at counter=(\d+)$/;
const COUNTER = /^counter=(\d+)$/;

/** Pure: the state in one container run's log (`kubectl logs --timestamps`); undefined before its first line. */
export function parseAppLog(text: string): AppState | undefined {
  let state: AppState | undefined;
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw.trim());
    if (!m) continue;
    const [, at, msg] = m as unknown as [string, string, string];
    const restored = RESTORED.exec(msg);
    if (msg === 'kcr-sim app started fresh') state = { counter: 0, startedAt: at };
    else if (restored) state = { counter: Number(restored[2]), startedAt: at, restoredFrom: restored[1]!, restoredAt: Number(restored[2]) };
    else {
      const c = COUNTER.exec(msg);
      if (c && state) state.counter = Number(c[1]);
    }
  }
  return state;
}

/** The current run's state of `container`, read through the API server as `kubectl logs` does. */
export async function appState(core: CoreV1Api, namespace: string, pod: string, container = 'app'): Promise<AppState> {
  const text = await core.readNamespacedPodLog({ name: pod, namespace, container, timestamps: true });
  const state = parseAppLog(text);
  if (!state) throw new Error(`no app output in the log of ${namespace}/${pod}/${container} yet`);
  return state;
}
