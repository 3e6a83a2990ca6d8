// `flotilla watch <job>`: follows an AIJob live (a Kubernetes watch, not polling), one line per
// change that matters — placement, running, preemption and the move elsewhere, completion, output,
// settlement — and exits when the job is done: 0 when it succeeded, 1 when it failed, 2 on --timeout.
import { Watch } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { CliError, describeKubeError } from '../errors.ts';
import { exitCodeFor, isDone, progressLine } from '../job-view.ts';
import { connectHub, getAIJob } from '../kube.ts';
import type { Hub, HubFlags } from '../kube.ts';
import { outputOption, positiveInt, print } from '../output.ts';
import type { OutputFormat } from '../output.ts';
import * as yaml from 'js-yaml';

export interface WatchFlags extends HubFlags {
  output?: OutputFormat;
  timeout?: number;
  until?: string;
}

/** Follows the job until it is done; returns its last version. */
export async function followJob(hub: Hub, name: string, flags: WatchFlags, onVersion: (job: AIJob) => void): Promise<AIJob> {
  const what = `AIJob ${hub.namespace}/${name}`;
  let job = await getAIJob(hub, name).catch((err: unknown) => {
    throw describeKubeError(err, what, hub.server);
  });
  onVersion(job);
  const deadline = flags.timeout ? Date.now() + flags.timeout * 1000 : Number.POSITIVE_INFINITY;
  const path = `/apis/${GROUP}/${VERSION}/namespaces/${hub.namespace}/${AIJOB.plural}`;
  while (!isDone(job, flags.until)) {
    if (Date.now() >= deadline) throw new CliError(`${what} is still ${job.status?.phase ?? 'Pending'} after ${flags.timeout}s`, 2);
    // One watch from the version we hold; it ends on done, deletion, timeout, or a dropped connection.
    const next = await new Promise<AIJob | 'deleted' | undefined>((resolve, reject) => {
      let latest: AIJob | undefined;
      let done = false;
      let controller: AbortController | undefined;
      const finish = (value: AIJob | 'deleted' | undefined, err?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        controller?.abort();
        if (err) reject(err);
        else resolve(value);
      };
      const timer = setTimeout(() => finish(latest), Math.min(60_000, Math.max(1000, deadline - Date.now())));
      new Watch(hub.kc)
        .watch(
          path,
          { fieldSelector: `metadata.name=${name}`, resourceVersion: job.metadata.resourceVersion },
          (type: string, obj: AIJob) => {
            if (type === 'DELETED') return finish('deleted');
            if (type !== 'ADDED' && type !== 'MODIFIED') return;
            latest = obj;
            onVersion(obj);
            if (isDone(obj, flags.until)) finish(obj);
          },
          (err: unknown) => finish(latest, err ?? undefined),
        )
        .then(
          (c) => {
            controller = c;
            if (done) c.abort();
          },
          (err: unknown) => finish(undefined, err),
        );
    }).catch(async (err: unknown) => {
      // 410 Gone (our version is too old) or a dropped connection: read the job again and go on.
      if ((err as { code?: number }).code === 404) throw describeKubeError(err, what, hub.server);
      return getAIJob(hub, name).catch((e: unknown) => {
        throw describeKubeError(e, what, hub.server);
      });
    });
    if (next === 'deleted') throw new CliError(`${what} was deleted while being watched`);
    if (next) job = next;
  }
  return job;
}

export function register(program: Command): void {
  program
    .command('watch')
    .description('follow an AIJob live until it succeeds or fails (exit code 0 succeeded, 1 failed, 2 timed out)')
    .argument('<job>', 'AIJob name')
    .option('-n, --namespace <namespace>', 'AIJob namespace (default: the kubeconfig context\'s, else "default")')
    .option('--kubeconfig <file>', 'hub kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--timeout <seconds>', 'give up after this many seconds (exit code 2)', positiveInt('--timeout'))
    .option('--until <phase>', 'stop at this phase instead (e.g. Running, Settled)')
    .addOption(outputOption())
    .action(async (name: string, flags: WatchFlags) => {
      const hub = connectHub(flags);
      const job = await watchAndPrint(hub, name, flags);
      process.exitCode = exitCodeFor(job);
    });
}

/** Prints each change (a timestamped line, or one JSON/YAML document per version); returns the final job. */
export async function watchAndPrint(hub: Hub, name: string, flags: WatchFlags): Promise<AIJob> {
  const t0 = Date.now();
  let last = '';
  return followJob(hub, name, flags, (job) => {
    if (flags.output === 'json') return print(JSON.stringify(job));
    if (flags.output === 'yaml') return print(`---\n${yaml.dump(job, { noRefs: true, lineWidth: 120 })}`);
    const line = progressLine(job);
    if (line === last) return;
    last = line;
    print(`[+${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${hub.namespace}/${name}: ${line}`);
  });
}
