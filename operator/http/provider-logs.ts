// The adapter behind the logs endpoint (pod-logs.ts): the leader's provider connections, read with
// their own rate-limited, size-limited, address-vetted client (ProviderKubeConfig). Set when this
// replica starts leading; until then (a standby) the endpoint answers 503.
import { Log } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Readable, Writable } from 'node:stream';
import type { FederatedProviderRegistry } from '../providers/registry.ts';
import { MAIN_CONTAINER } from './pod-logs.ts';
import type { LogProvider, LogSource } from './pod-logs.ts';

export class ProviderLogSource implements LogSource {
  private registry: FederatedProviderRegistry | undefined;

  /** Called by main.ts when this replica leads (the registry exists only then). */
  attach(registry: FederatedProviderRegistry): void {
    this.registry = registry;
  }

  get active(): boolean {
    return this.registry !== undefined;
  }

  provider(name: string): LogProvider | undefined {
    const connection = this.registry?.entry(name)?.connection;
    if (!connection) return undefined;
    const namespace = connection.namespace;
    const read: LogProvider['read'] = async (pod, opts) =>
      connection.core.readNamespacedPodLog({
        name: pod,
        namespace,
        container: MAIN_CONTAINER,
        limitBytes: opts.limitBytes,
        ...(opts.tailLines !== undefined ? { tailLines: opts.tailLines } : {}),
      });
    return {
      namespace,
      cachedPod: (pod) => connection.pods().find((p) => p.metadata?.name === pod),
      read,
      follow: async (pod, opts, out) => {
        try {
          return await followLog(connection.kubeConfig, namespace, pod, out, opts);
        } catch (err) {
          // client-node's Log keeps the apiserver's message only for a 500; for a refusal (400 "no
          // logs", 404, 403) one byte read without follow brings the message with it.
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'number' && code !== 500) await read(pod, { limitBytes: 1 });
          throw err;
        }
      },
    };
  }
}

/**
 * Follows a pod's main log into `out`; resolves with the function that stops it. client-node's Log
 * pipes the response into `out` and leaves that source stream without an error listener, so the
 * abort that stops a follow (the client went away, the deadline) would surface as an unhandled
 * AbortError and end the process: the source is given a listener as soon as it is piped in.
 */
export async function followLog(
  kubeConfig: KubeConfig,
  namespace: string,
  pod: string,
  out: Writable,
  opts: { limitBytes: number; tailLines?: number },
): Promise<() => void> {
  out.once('pipe', (source: Readable) => source.on('error', () => undefined));
  const controller = await new Log(kubeConfig).log(namespace, pod, MAIN_CONTAINER, out, {
    follow: true,
    limitBytes: opts.limitBytes,
    ...(opts.tailLines !== undefined ? { tailLines: opts.tailLines } : {}),
  });
  return () => controller.abort();
}
