// Node profiles: which container runtime (and version) a local node's simulator behaves as.
// The rules behind each profile live in the simulator (../cri-sim/README.md); this file only
// names them, so `cluster:up -- --nodes …` fails fast on a typo.
export const RUNTIME_PROFILES = ['cri-o-1.34', 'cri-o-1.29', 'containerd-2.1', 'containerd-2.3.4', 'containerd-2.4'] as const;
export type RuntimeProfile = (typeof RUNTIME_PROFILES)[number];

export const DEFAULT_NODE_PROFILES: readonly string[] = ['cri-o-1.34', 'cri-o-1.34'];

/** `cri-o-1.34`, `cri-o-1.29:restore=on`, …: the runtime's restore switch may be overridden. */
export function parseNodeProfile(raw: string): { profile: RuntimeProfile; restore?: boolean } {
  const [name, ...opts] = raw.trim().split(':');
  if (!(RUNTIME_PROFILES as readonly string[]).includes(name ?? '')) {
    throw new Error(`unknown node profile ${JSON.stringify(raw)}: use one of ${RUNTIME_PROFILES.join(', ')}, optionally with :restore=on|off`);
  }
  const profile = name as RuntimeProfile;
  if (opts.length === 0) return { profile };
  if (opts.length !== 1 || !/^restore=(on|off)$/.test(opts[0]!)) {
    throw new Error(`bad node profile option in ${JSON.stringify(raw)}: only :restore=on or :restore=off`);
  }
  if (profile === 'containerd-2.4' && opts[0] === 'restore=on') {
    throw new Error(`node profile ${JSON.stringify(raw)}: containerd 2.4 removed restore from an image; there is no switch to turn on`);
  }
  if (profile === 'containerd-2.1' && opts[0] === 'restore=off') {
    throw new Error(`node profile ${JSON.stringify(raw)}: containerd 2.1 always restores from an image; it has no switch to turn off`);
  }
  return { profile, restore: opts[0] === 'restore=on' };
}

/**
 * The runtime configuration a node of this profile has on its host, by file: the line that sets
 * the restore switch when the profile overrides it (`:restore=on|off`); none otherwise (the
 * version's default applies). The simulator follows the same profile.
 */
export function runtimeConfigFiles(raw: string, paths: { crioConfig: string; containerdConfig: string }): Record<string, string> {
  const { profile, restore } = parseNodeProfile(raw);
  if (restore === undefined) return {};
  if (profile.startsWith('cri-o-')) return { [paths.crioConfig]: `[crio.runtime]\nenable_criu_support = ${restore}\n` };
  return { [paths.containerdConfig]: `version = 3\n\n[plugins."io.containerd.cri.v1.runtime"]\nenable_experimental_restore_via_create = ${restore}\n` };
}

/** A comma-separated list (`cri-o-1.34,containerd-2.4`), one profile per node, each validated. */
export function parseNodeProfiles(list: string): string[] {
  const items = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error('--nodes needs at least one profile, e.g. cri-o-1.34,containerd-2.4');
  for (const i of items) parseNodeProfile(i);
  return items;
}
