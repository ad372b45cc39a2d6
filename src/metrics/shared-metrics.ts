// The metrics more than one component serves, declared once so their names, help and labels
// cannot drift apart between the agent's registry and the controller's.
import { Counter, Gauge, type Registry } from 'prom-client';

/** kcr_registry_errors_total{operation}: failed registry calls (agent: push; controller: delete, list). */
export function registryErrorsCounter(registry: Registry): Counter<'operation'> {
  return new Counter({
    name: 'kcr_registry_errors_total',
    help: 'Failed registry calls, by operation (push|delete|list)',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
}

/** kcr_redis_up: read at scrape time; `up` undefined (not wired yet) leaves it unset. */
export function redisUpGauge(registry: Registry, up: () => (() => boolean) | undefined): void {
  new Gauge({
    name: 'kcr_redis_up',
    help: '1 while the connection to Redis (the queues) is ready, else 0',
    registers: [registry],
    collect() {
      const read = up();
      if (read) this.set(read() ? 1 : 0);
    },
  });
}
