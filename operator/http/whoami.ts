// Who the operator is to the hub's apiserver, asked once at start (authentication.k8s.io/v1
// SelfSubjectReview): in a cluster its ServiceAccount's username, out of cluster whatever user its
// kubeconfig names. The finalizer guard (./finalizer-guard.ts) lets only this user remove
// Flotilla's finalizers. FLOTILLA_OPERATOR_USERNAME overrides it (an apiserver without the API).
import { AuthenticationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

export async function operatorUsername(hub: KubeConfig, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.FLOTILLA_OPERATOR_USERNAME) return env.FLOTILLA_OPERATOR_USERNAME;
  const review = await hub
    .makeApiClient(AuthenticationV1Api)
    .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  return review.status?.userInfo?.username;
}
