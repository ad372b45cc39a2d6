// Long-lived local processes that outlive the command that started them (cluster:up --kcr,
// the demo): each runs detached in its own process group, its output appended to a log file,
// and is recorded by pid AND the kernel's start time of that pid, so a later `cluster:down`
// stops exactly it - never an unrelated process that happens to reuse the pid. (The command
// line is no proof: redis-server rewrites its own. local-cluster.ts has the same idea for the
// control plane, but its helpers are private and compare argv[0] only, `node` for all of kcr.)
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DetachedProcess {
  /** What it is, e.g. "redis", "agent-node-1". */
  name: string;
  pid: number;
  /** The argv it was started with (for people reading stack.json). */
  argv: string[];
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot): pid + start time name one process. */
  startTicks: string;
  logFile: string;
}

export interface StartDetachedOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function startDetachedProcess(opts: StartDetachedOptions): DetachedProcess {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(opts.command, opts.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.command})`);
    child.unref();
    const startTicks = procStat(child.pid)?.startTicks;
    if (startTicks === undefined) throw new Error(`${opts.name} (${opts.command}) exited at once; see ${opts.logFile}`);
    return { name: opts.name, pid: child.pid, argv: [opts.command, ...opts.args], startTicks, logFile: opts.logFile };
  } finally {
    closeSync(fd);
  }
}

function procStat(pid: number): { state: string; startTicks: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const startTicks = fields[19];
    return state !== undefined && startTicks !== undefined ? { state, startTicks } : undefined;
  } catch {
    return undefined;
  }
}

/** True while `p` runs (same pid, same start time; a zombie counts as gone). */
export function isRunning(p: Pick<DetachedProcess, 'pid' | 'startTicks'>): boolean {
  const s = procStat(p.pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X' && s.startTicks === p.startTicks;
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // pgid == pid: started detached
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM to its process group, SIGKILL after `graceMs`. Does nothing when it is not ours. */
export async function stopDetachedProcess(p: DetachedProcess, graceMs = 10_000): Promise<boolean> {
  if (!isRunning(p)) return false;
  signalGroup(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(p)) return true;
    await sleep(100);
  }
  signalGroup(p.pid, 'SIGKILL');
  while (isRunning(p)) await sleep(50);
  return true;
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
