// The flags of `npm run cluster:up`, parsed strictly: an unknown flag is an error, not ignored.
import { parseNodeProfiles } from './nodes/profiles.ts';

export interface UpFlags {
  help: boolean;
  /** Also start kcr's stack (Redis, registry, nodes, webhook, controller, agents) and apply manifests/. */
  kcr: boolean;
  /** `--nodes cri-o-1.34,containerd-2.4`: one runtime profile per node (with --kcr). */
  nodeProfiles?: string[];
}

export function parseUpFlags(argv: string[]): UpFlags {
  const flags: UpFlags = { help: false, kcr: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') flags.help = true;
    else if (arg === '--kcr') flags.kcr = true;
    else if (arg === '--nodes' || arg.startsWith('--nodes=')) {
      const value = arg === '--nodes' ? argv[++i] : arg.slice('--nodes='.length);
      if (value === undefined) throw new Error('cluster:up: --nodes needs a list of profiles, e.g. --nodes cri-o-1.34,containerd-2.4');
      flags.nodeProfiles = parseNodeProfiles(value);
    } else throw new Error(`cluster:up: unknown flag ${JSON.stringify(arg)}`);
  }
  if (flags.nodeProfiles && !flags.kcr) throw new Error('cluster:up: --nodes starts nodes for kcr: use it with --kcr');
  return flags;
}
