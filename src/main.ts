#!/usr/bin/env node
// kcr: one binary, a sub-command per component. Each sub-command has its own
// composition root under src/commands/.
const usage = `usage: kcr <command>

commands:
  webhook      the restore admission webhook (HTTPS)
  agent        the checkpoint worker of one node (DaemonSet)
  controller   schedules, checkpoint requests, retention (leader-elected)
  token-service  the registry's token realm: per-namespace pull-only access
`;

const commands: Record<string, () => Promise<{ run: (argv: string[]) => Promise<void> }>> = {
  webhook: () => import('./commands/webhook.ts'),
  agent: () => import('./commands/agent.ts'),
  controller: () => import('./commands/controller.ts'),
  'token-service': () => import('./commands/token-service.ts'),
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage);
    return;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`kcr: unknown command ${JSON.stringify(name)}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  const mod = await load();
  await mod.run(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
