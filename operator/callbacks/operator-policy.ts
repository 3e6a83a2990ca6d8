// The operator's callback URL policy from its configuration and this machine's addresses: what
// the admission webhook and the dispatcher both judge callbackURLs by (url-policy.ts).
import { networkInterfaces } from 'node:os';
import type { OperatorConfig } from '../config.ts';
import { callbackPolicyOf } from './url-policy.ts';
import type { CallbackPolicy } from './url-policy.ts';

/** `actualPorts`: ports bound at run time (a configured 0 means any free port). */
export function operatorCallbackPolicy(config: OperatorConfig, actualPorts: readonly (number | undefined)[] = []): CallbackPolicy {
  const localAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  const configured = [config.http.port, config.webhook.port, config.reportListener.port];
  return callbackPolicyOf({
    allow: config.callbacks.allow,
    deny: config.callbacks.deny,
    ...(config.artifacts.kuboApi ? { kuboApi: config.artifacts.kuboApi } : {}),
    ...(config.checkpointReports ? { reportUrl: config.checkpointReports.url } : {}),
    ownPorts: [...new Set([...configured, ...actualPorts].filter((p): p is number => typeof p === 'number' && p > 0))],
    localAddresses: [...new Set(['127.0.0.1', '::1', ...localAddresses])],
  });
}
