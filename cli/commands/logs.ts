// `flotilla logs <job> [--replica N] [--attempt N] [-f]`: a replica's log, through the operator's API
// (GET /api/v1/jobs/<ns>/<name>/logs; operator/http/pod-logs.ts), which reads it from the provider
// with its own credential once it has checked you may get the AIJob. The provider cluster is never
// contacted by the CLI (you have no credential there). The operator bounds each request: 1 MiB by
// default (--limit-bytes up to 8 MiB), a followed stream for 10 minutes at most — when it cuts one,
// this says so on stderr.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { connectHub } from '../kube.ts';
import type { HubFlags } from '../kube.ts';
import { CliError } from '../errors.ts';
import { bearerTokenFor, operatorError, operatorUrl } from '../operator-api.ts';
import type { OperatorFlags } from '../operator-api.ts';

const index = (flag: string) => (v: string) => {
  if (!/^\d{1,9}$/.test(v)) throw new InvalidArgumentError(`${flag} must be a non-negative integer`);
  return Number(v);
};

interface LogsFlags extends HubFlags, OperatorFlags {
  replica?: number;
  attempt?: number;
  follow?: boolean;
  limitBytes?: number;
  tail?: number;
}

/** The logs URL of the operator's API for these flags. */
export function logsUrl(
  base: string,
  namespace: string,
  name: string,
  flags: Pick<LogsFlags, 'replica' | 'attempt' | 'follow' | 'limitBytes' | 'tail'>,
): string {
  const q = new URLSearchParams({ replica: String(flags.replica ?? 0) });
  if (flags.attempt !== undefined) q.set('attempt', String(flags.attempt));
  if (flags.follow) q.set('follow', 'true');
  if (flags.limitBytes !== undefined) q.set('limitBytes', String(flags.limitBytes));
  if (flags.tail !== undefined) q.set('tailLines', String(flags.tail));
  return `${base}/api/v1/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/logs?${q.toString()}`;
}

export async function streamLogs(name: string, flags: LogsFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const base = operatorUrl(flags.operator);
  const hub = flags.token || process.env.FLOTILLA_TOKEN ? undefined : connectHub(flags);
  const namespace = flags.namespace ?? hub?.namespace ?? connectHub(flags).namespace;
  const token = await bearerTokenFor(hub, flags.token);
  const url = logsUrl(base, namespace, name, flags);
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e instanceof Error ? e.message : String(e));
    throw new CliError(`cannot reach the operator at ${base} (${cause}); is --operator right?`);
  }
  if (!res.ok) throw await operatorError(res, `the log of AIJob ${namespace}/${name}`);
  for await (const chunk of res.body ?? []) out.write(chunk as Uint8Array);
  const limits = res.headers.get('x-flotilla-log-limits') ?? '';
  const followSeconds = Number(/followSeconds=(\d+)/.exec(limits)?.[1] ?? 'NaN');
  if (flags.follow && Number.isFinite(followSeconds) && Date.now() - started >= followSeconds * 1000 - 1000) {
    err.write(`flotilla: the operator ends a followed log after ${followSeconds}s; run the command again to go on\n`);
  }
}

export function register(program: Command): void {
  program
    .command('logs')
    .description('print (or follow) the log of one replica of an AIJob, through the operator')
    .argument('<job>', 'AIJob name')
    .option('--replica <n>', 'replica index (default 0)', index('--replica'))
    .option('--attempt <n>', 'attempt index (default: the newest)', index('--attempt'))
    .option('-f, --follow', 'stream the log as it grows (the operator ends the stream after 10 minutes)')
    .option('--limit-bytes <n>', 'most bytes to read (default 1 MiB; the operator allows up to 8 MiB)', index('--limit-bytes'))
    .option('--tail <lines>', 'only the last <lines> lines', index('--tail'))
    .option('-n, --namespace <namespace>', 'AIJob namespace (default: the kubeconfig context\'s, else "default")')
    .option('--kubeconfig <file>', 'hub kubeconfig: your identity (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--operator <url>', "the operator's API URL (default $FLOTILLA_OPERATOR_URL)")
    .option('--token <token>', "bearer token for the operator (default $FLOTILLA_TOKEN, else your kubeconfig user's)")
    .action(async (name: string, flags: LogsFlags) => {
      await streamLogs(name, flags, process.stdout, process.stderr);
    });
}
