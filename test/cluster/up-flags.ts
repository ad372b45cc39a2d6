// The flags of `npm run cluster:up`, parsed strictly: an unknown flag is an error, not ignored.

export interface UpFlags {
  help: boolean;
  // Later: `--kcr` (deploy kcr itself into the cluster) gets its field here.
}

export function parseUpFlags(argv: string[]): UpFlags {
  const flags: UpFlags = { help: false };
  for (const arg of argv) {
    switch (arg) {
      case '--help':
      case '-h':
        flags.help = true;
        break;
      // case '--kcr': (not yet: a later issue deploys kcr's components into the cluster)
      default:
        throw new Error(`cluster:up: unknown flag ${JSON.stringify(arg)}`);
    }
  }
  return flags;
}
