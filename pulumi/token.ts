// Waits for a provider's token controller to fill the provider chart's ServiceAccount token Secret,
// so that onboarding is one `pulumi up`: the Secret exists as soon as the chart is installed, but its
// `token` and `ca.crt` arrive a moment later (kube-controller-manager's token controller).
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export interface TokenWait {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

export interface ServiceAccountToken {
  /** The token itself (decoded). */
  readonly token: string;
  /** base64 of the cluster's CA bundle, as the Secret's `ca.crt` holds it. */
  readonly caData: string;
}

/** Resolves once Secret namespace/name holds a token and a CA bundle; rejects, naming the Secret, after timeoutMs. */
export async function waitForServiceAccountToken(kubeconfig: string, namespace: string, name: string, wait: TokenWait = {}): Promise<ServiceAccountToken> {
  const timeoutMs = wait.timeoutMs ?? 120_000;
  const intervalMs = wait.intervalMs ?? 250;
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = 'not read yet';
  for (;;) {
    try {
      const secret = await core.readNamespacedSecret({ name, namespace });
      const token = secret.data?.token;
      const caData = secret.data?.['ca.crt'];
      if (token && caData) return { token: Buffer.from(token, 'base64').toString('utf8'), caData };
      last = 'it has no token yet';
    } catch (err) {
      // Not there yet (the chart's release is being applied), or the API server is briefly away: keep waiting.
      last = String((err as { code?: number }).code ?? (err as Error).message);
    }
    if (Date.now() >= deadline)
      throw new Error(`Secret ${namespace}/${name} was not filled by the provider's token controller within ${timeoutMs / 1000}s (${last})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
