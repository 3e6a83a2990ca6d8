// `flotilla providers`: every GPUProvider of the hub as a table — readiness, region, GPUs free of
// allocatable, prices per GPU-hour, reputation (share of finished attempts that completed).
import type { Command } from 'commander';
import type { GPUProvider } from '../../operator/api/types.ts';
import { findCondition } from '../../operator/core/conditions.ts';
import { describeKubeError } from '../errors.ts';
import { connectHub, listGPUProviders } from '../kube.ts';
import type { HubFlags } from '../kube.ts';
import { age, outputOption, print, render, table } from '../output.ts';
import type { OutputFormat } from '../output.ts';

function readiness(p: GPUProvider): string {
  if (p.spec.cordoned) return 'Cordoned';
  const ready = findCondition(p.status?.conditions, 'Ready');
  if (!ready) return 'Unknown';
  return ready.status === 'True' ? 'Ready' : `NotReady (${ready.reason})`;
}

function reputation(p: GPUProvider): string {
  const r = p.status?.reputation;
  const finished = (r?.completed ?? 0) + (r?.preempted ?? 0) + (r?.failed ?? 0);
  if (!r || finished === 0) return 'new';
  return `${Math.round(((r.completed ?? 0) / finished) * 100)}% of ${finished}${r.preempted ? `, ${r.preempted} preempted` : ''}`;
}

export function providersTable(providers: readonly GPUProvider[], now = Date.now()): string {
  const rows = [...providers]
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))
    .map((p) => [
      p.metadata.name ?? '',
      readiness(p),
      p.spec.region ?? '-',
      `${p.status?.freeGpus ?? 0}/${p.status?.allocatableGpus ?? 0}`,
      p.spec.prices.map((x) => `${x.gpuProduct}=${x.pricePerGpuHour}`).join(' '),
      reputation(p),
      age(p.status?.lastSeen, now),
    ]);
  return table([['NAME', 'STATUS', 'REGION', 'FREE/GPUS', 'PRICE PER GPU-HOUR', 'REPUTATION', 'LAST SEEN'], ...rows]);
}

export function register(program: Command): void {
  program
    .command('providers')
    .description('list GPU providers: readiness, region, free GPUs, prices and reputation')
    .option('--kubeconfig <file>', 'hub kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .addOption(outputOption())
    .action(async (flags: HubFlags & { output?: OutputFormat }) => {
      const hub = connectHub(flags);
      const providers = await listGPUProviders(hub).catch((err: unknown) => {
        throw describeKubeError(err, 'GPUProviders', hub.server);
      });
      if (flags.output) return print(render({ items: providers }, flags.output));
      if (providers.length === 0) return print('no GPUProviders in this hub (onboard one with the flotilla-provider chart, see docs/charts.md)');
      print(providersTable(providers));
    });
}
