// Graceful shutdown with a deadline: worker.close() waits for running jobs, which may take longer
// than the pod's grace period. At the deadline we stop waiting (BullMQ ignores a second,
// forcing close() while the first is pending), run `onDeadline` (e.g. disconnect the Redis
// clients) and return; the unfinished jobs' locks expire and another worker retries them as
// stalled jobs.

export interface Closable {
  close(): Promise<void>;
}

export async function closeWithDeadline(
  target: Closable,
  deadlineMs: number,
  onDeadline?: () => void,
): Promise<'closed' | 'deadline'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), deadlineMs);
  });
  try {
    const outcome = await Promise.race([target.close().then(() => 'closed' as const), deadline]);
    if (outcome === 'deadline') onDeadline?.();
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}
