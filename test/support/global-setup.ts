// One federation per test run: reuse a healthy one (a developer's `make federation-up`), else
// start one and remember to stop it in global-teardown.ts. Set FLOTILLA_KEEP_FEDERATION=1 to keep
// a federation the tests started.
import { federationUp, isHealthy, readEndpoints } from '../../federation/federation.ts';

declare global {
  var __flotillaStopFederation: boolean | undefined;
}

export default async function globalSetup(): Promise<void> {
  const existing = readEndpoints();
  const reused = existing !== undefined && (await isHealthy(existing));
  const progress = (line: string) => process.stdout.write(`[federation] ${line}\n`);
  await federationUp({ progress });
  globalThis.__flotillaStopFederation = !reused && process.env.FLOTILLA_KEEP_FEDERATION !== '1';
}
