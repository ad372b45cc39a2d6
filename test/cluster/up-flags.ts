// The flags of `npm run cluster:up`, parsed strictly: an unknown flag is an error, not ignored.

export interface UpFlags {
  help: boolean;
  /** Also start kcr's stack (Redis, registry, simulated nodes, webhook, controller, agents) and apply manifests/. */
  kcr: boolean;
}

export function parseUpFlags(argv: string[]): UpFlags {
  const flags: UpFlags = { help: false, kcr: false };
  for (const arg of argv) {
    switch (arg) {
      case '--help':
      case '-h':
        flags.help = true;
        break;
      case '--kcr':
        flags.kcr = true;
        break;
      default:
        throw new Error(`cluster:up: unknown flag ${JSON.stringify(arg)}`);
    }
  }
  return flags;
}
