// A failure the agent itself detects, with the reason (an Event reason, CamelCase) and a
// message a user understands. `transient: false` ends the request at once.
export class AgentFailure extends Error {
  override name = 'AgentFailure';
  readonly reason: string;
  readonly transient: boolean;

  constructor(reason: string, message: string, options: { transient?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.transient = options.transient ?? false;
  }
}
