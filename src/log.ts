// Structured JSON logs (pino). Callers pass objects with namespace/pod/container/uid keys.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(
  component: string,
  level: string = 'info',
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { component },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything, for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
