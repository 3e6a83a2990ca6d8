// The kubeconfig the hub uses for a provider: its API server, its CA and the provider chart's
// ServiceAccount token. Pure, so that it is tested without any cluster.
import * as yaml from 'js-yaml';

export interface ProviderCredential {
  readonly server: string;
  /** base64 of the CA bundle, as a token Secret's `ca.crt` holds it. */
  readonly caData: string;
  readonly token: string;
  readonly namespace: string;
}

export function providerKubeconfig(c: ProviderCredential): string {
  return yaml.dump(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'provider', cluster: { server: c.server, 'certificate-authority-data': c.caData } }],
      users: [{ name: 'flotilla-hub', user: { token: c.token } }],
      contexts: [{ name: 'provider', context: { cluster: 'provider', user: 'flotilla-hub', namespace: c.namespace } }],
      'current-context': 'provider',
    },
    { lineWidth: -1 },
  );
}

/** The API server address of a kubeconfig's current context. */
export function currentServer(kubeconfig: string): string {
  const kc = yaml.load(kubeconfig) as {
    'current-context'?: string;
    contexts?: Array<{ name: string; context: { cluster: string } }>;
    clusters?: Array<{ name: string; cluster: { server: string } }>;
  };
  const context = kc.contexts?.find((c) => c.name === kc['current-context']) ?? kc.contexts?.[0];
  const server = kc.clusters?.find((c) => c.name === context?.context.cluster)?.cluster.server;
  if (!server) throw new Error('the provider kubeconfig names no server for its current context');
  return server;
}
