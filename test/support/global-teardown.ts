import { federationDown } from '../../federation/federation.ts';

export default async function globalTeardown(): Promise<void> {
  if (!globalThis.__flotillaStopFederation) return;
  // Quiet on success: the plain "N passed, N failed" line must stay the run's closing line.
  const { strays } = await federationDown();
  if (strays.length > 0)
    throw new Error(`federation down left ${strays.length} process(es) behind: ${strays.map((s) => `${s.pid} (${s.command})`).join(', ')}`);
}
