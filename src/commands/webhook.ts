// CONTRACT STUB (to be implemented): composition root of `kcr webhook`.
export async function run(_argv: string[]): Promise<void> {
  throw new Error('kcr webhook: not implemented yet');
}
