// The operator's admission webhooks for an operator running outside the hub (`make run`), taken
// from the hub chart itself so the development loop registers exactly what a Helm install does:
// `helm template` renders charts/flotilla's webhook.yaml with webhook.url pointing at the local
// listener; the chart's genCA makes a throwaway CA and a serving certificate for that host, and
// its Validating/MutatingWebhookConfigurations carry the CA in caBundle.
import { execFileSync } from 'node:child_process';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { join } from 'node:path';
import { repoRoot, toolPaths } from './paths.ts';

/** Label on every configuration registered here, so removal never touches a Helm install's. */
export const REGISTERED_BY = { 'flotilla.dev/registered-by': 'make-run' } as const;

export interface RenderedWebhooks {
  /** PEM serving certificate, key and the CA that signed them (one run's throwaway CA). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  readonly validating: V1ValidatingWebhookConfiguration;
  readonly mutating: V1MutatingWebhookConfiguration;
}

export interface RenderOptions {
  /** https://host:port the apiserver calls (the operator's webhook listener). */
  readonly url: string;
  /** Helm release name: the configurations are named <namespace>-<release>-flotilla-operator. */
  readonly release: string;
  /** The operator's namespace (the chart's release namespace). */
  readonly namespace: string;
  /** A namespace-scoped operator's namespace: its AIJob webhooks judge that namespace only. */
  readonly watchNamespace?: string;
  readonly helm?: string;
}

type Doc = { kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; data?: Record<string, string> };

export function renderChartWebhooks(opts: RenderOptions): RenderedWebhooks {
  const args = [
    'template',
    opts.release,
    join(repoRoot, 'charts', 'flotilla'),
    '--namespace',
    opts.namespace,
    '--show-only',
    'templates/webhook.yaml',
    // Render for the federation's Kubernetes: the chart's kubeVersion refuses helm's offline default
    // (v1.20.0 in a helm built by `go install`, which sets no version ldflags).
    '--kube-version',
    toolPaths().kubeVersion,
    '--set',
    `webhook.url=${opts.url}`,
    ...(opts.watchNamespace ? ['--set', `operator.watchNamespace=${opts.watchNamespace}`] : []),
  ];
  const out = execFileSync(opts.helm ?? toolPaths().helm, args, { encoding: 'utf8' });
  const docs = yaml.loadAll(out).filter(Boolean) as Doc[];
  const find = (kind: string) =>
    docs.find((d) => d.kind === kind) ??
    (() => {
      throw new Error(`the chart rendered no ${kind}`);
    })();
  const secret = find('Secret');
  const b64 = (key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
  const label = <T extends Doc>(d: T): T => ({ ...d, metadata: { ...d.metadata, labels: { ...d.metadata?.labels, ...REGISTERED_BY } } });
  return {
    certPem: b64('tls.crt'),
    keyPem: b64('tls.key'),
    caPem: b64('ca.crt'),
    validating: label(find('ValidatingWebhookConfiguration')) as V1ValidatingWebhookConfiguration,
    mutating: label(find('MutatingWebhookConfiguration')) as V1MutatingWebhookConfiguration,
  };
}

const notFound = (err: unknown) => (err as { code?: unknown }).code === 404;

/** Creates the configurations, replacing leftovers of the same name (a previous run killed with -9). */
export async function registerWebhooks(kc: KubeConfig, rendered: RenderedWebhooks): Promise<string[]> {
  await unregisterWebhooks(kc, rendered);
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  await api.createValidatingWebhookConfiguration({ body: rendered.validating });
  await api.createMutatingWebhookConfiguration({ body: rendered.mutating });
  return [rendered.validating.metadata?.name ?? '', rendered.mutating.metadata?.name ?? ''];
}

/** Deletes what registerWebhooks created (by name, and only when it carries our label). */
export async function unregisterWebhooks(kc: KubeConfig, rendered: Pick<RenderedWebhooks, 'validating' | 'mutating'>): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const ours = (labels: Record<string, string> | undefined) => labels?.['flotilla.dev/registered-by'] === REGISTERED_BY['flotilla.dev/registered-by'];
  const vName = rendered.validating.metadata?.name ?? '';
  const mName = rendered.mutating.metadata?.name ?? '';
  const v = await api.readValidatingWebhookConfiguration({ name: vName }).catch((err: unknown) => {
    if (notFound(err)) return undefined;
    throw err;
  });
  if (v && ours(v.metadata?.labels))
    await api.deleteValidatingWebhookConfiguration({ name: vName }).catch((err: unknown) => {
      if (!notFound(err)) throw err;
    });
  const m = await api.readMutatingWebhookConfiguration({ name: mName }).catch((err: unknown) => {
    if (notFound(err)) return undefined;
    throw err;
  });
  if (m && ours(m.metadata?.labels))
    await api.deleteMutatingWebhookConfiguration({ name: mName }).catch((err: unknown) => {
      if (!notFound(err)) throw err;
    });
}
