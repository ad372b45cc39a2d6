// A kcr process started by a test: its stdout and stderr go to a log file as they are, and
// each JSON line (pino) is also kept parsed, so tests can assert on what it logged.
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ChildLogs {
  /** Parsed log lines; a line that is not JSON is kept as { msg }. */
  logs: Record<string, unknown>[];
  /** Everything it printed, as text. */
  output(): string;
  /** Ends the log file (call when the process exited). */
  close(): void;
}

export function collectChildLogs(child: ChildProcess, logFile: string): ChildLogs {
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  let partial = '';
  const out = createWriteStream(logFile, { flags: 'a' });
  const onData = (chunk: Buffer) => {
    out.write(chunk);
    const text = chunk.toString('utf8');
    raw += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return { logs, output: () => raw, close: () => out.end() };
}
