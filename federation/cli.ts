// `node federation/cli.ts up|down|status` — the local federation from the command line
// (the Makefile's federation-up / federation-down targets call this).
import { federationDown, federationUp, isHealthy, readEndpoints } from './federation.ts';

const progress = (line: string) => process.stdout.write(`[federation ${new Date().toTimeString().slice(0, 8)}] ${line}\n`);

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up': {
      const ep = await federationUp({ progress, ...(process.env.FLOTILLA_FLEET ? { fleetFile: process.env.FLOTILLA_FLEET } : {}) });
      process.stdout.write(describe(ep));
      return 0;
    }
    case 'down': {
      const { strays } = await federationDown({ progress });
      return strays.length > 0 ? 1 : 0;
    }
    case 'status': {
      const ep = readEndpoints();
      if (!ep) {
        process.stdout.write('no federation is running (make federation-up)\n');
        return 1;
      }
      const healthy = await isHealthy(ep);
      process.stdout.write(describe(ep) + `healthy: ${healthy}\n`);
      return healthy ? 0 : 1;
    }
    default:
      process.stderr.write('usage: node federation/cli.ts up|down|status\n');
      return 2;
  }
}

function describe(ep: NonNullable<ReturnType<typeof readEndpoints>>): string {
  const lines = [
    `Kubernetes ${ep.kubeVersion}`,
    `  hub          kubectl --kubeconfig ${ep.hub.kubeconfig} get ns`,
    ...ep.providers.map((p) => `  ${p.name.padEnd(12)} kubectl --kubeconfig ${p.kubeconfig} get nodes   (${p.region}, ${p.nodes.length} GPU nodes)`),
    `IPFS   hub ${ep.kubo.hub.api}  provider ${ep.kubo.provider.api}  (gateways ${ep.kubo.hub.gateway}, ${ep.kubo.provider.gateway})`,
    `Chain  anvil ${ep.anvil.rpcUrl} (chain id ${ep.anvil.chainId})`,
    `Endpoints file: ${ep.stateDir}/endpoints.json`,
  ];
  return lines.join('\n') + '\n';
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`federation: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
