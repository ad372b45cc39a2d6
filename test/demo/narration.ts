// How the demo talks: numbered steps with wall-clock and elapsed time, indented detail lines,
// plain text (no TUI), so the output reads the same in a terminal, a CI log or a file.

export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function clock(d: Date): string {
  return d.toISOString().slice(11, 19);
}

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'size unknown';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** Seconds until the next full minute (a `*\/1 * * * *` cron fires then). */
export function secondsToNextMinute(now: Date): number {
  return Math.ceil((60_000 - (now.getTime() % 60_000)) / 1000);
}

export class Narrator {
  private readonly started: number;
  private readonly out: (line: string) => void;
  private readonly now: () => Date;
  private step = 0;
  readonly total: number;

  constructor(total: number, out: (line: string) => void = (l) => console.log(l), now: () => Date = () => new Date()) {
    this.total = total;
    this.out = out;
    this.now = now;
    this.started = now().getTime();
  }

  private prefix(): string {
    const n = this.now();
    return `[${clock(n)} +${elapsed(n.getTime() - this.started)}]`;
  }

  /** Starts the next numbered step. */
  begin(title: string): number {
    this.step += 1;
    this.out('');
    this.out(`${this.prefix()} Step ${this.step}/${this.total}: ${title}`);
    return this.step;
  }

  /** A detail line of the current step. */
  info(line: string): void {
    this.out(`${this.prefix()}   ${line}`);
  }

  /** A line outside the steps (intro, summary). */
  plain(line: string): void {
    this.out(line);
  }

  /** The number of the step in progress (0 before the first). */
  get current(): number {
    return this.step;
  }

  elapsedMs(): number {
    return this.now().getTime() - this.started;
  }
}
