// `flotilla status <job>`: one AIJob's phase, placement, attempts, conditions and artifacts.
import type { Command } from 'commander';
import { describeKubeError } from '../errors.ts';
import { statusText } from '../job-view.ts';
import { connectHub, getAIJob } from '../kube.ts';
import type { HubFlags } from '../kube.ts';
import { outputOption, print, render } from '../output.ts';
import type { OutputFormat } from '../output.ts';

export function register(program: Command): void {
  program
    .command('status')
    .description('show an AIJob: phase, provider, attempts, conditions, output CID, cost and settlement')
    .argument('<job>', 'AIJob name')
    .option('-n, --namespace <namespace>', 'AIJob namespace (default: the kubeconfig context\'s, else "default")')
    .option('--kubeconfig <file>', 'hub kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .addOption(outputOption())
    .action(async (name: string, flags: HubFlags & { output?: OutputFormat }) => {
      const hub = connectHub(flags);
      const job = await getAIJob(hub, name).catch((err: unknown) => {
        throw describeKubeError(err, `AIJob ${hub.namespace}/${name}`, hub.server);
      });
      print(flags.output ? render(job, flags.output) : statusText(job));
    });
}
