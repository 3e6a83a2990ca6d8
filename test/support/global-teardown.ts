import { federationDown } from '../../federation/federation.ts';

export default async function globalTeardown(): Promise<void> {
  if (!globalThis.__flotillaStopFederation) return;
  const { strays } = await federationDown({ progress: (line) => process.stdout.write(`[federation] ${line}\n`) });
  if (strays.length > 0) throw new Error(`federation down left ${strays.length} process(es) behind: ${strays.join(', ')}`);
}
