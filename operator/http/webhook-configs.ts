// The Validating- and MutatingWebhookConfiguration bodies for an operator reached at a URL, built
// from WEBHOOK_RULES: what `make run` and the tests register against the local hub (a throwaway CA),
// so they register exactly what the chart does (charts/flotilla/templates/webhook.yaml).
import { WEBHOOK_RULES, ruleOf } from './webhooks.ts';

export interface WebhookConfigOptions {
  /** Name of both configurations. */
  readonly name: string;
  /** https://host:port of the operator's webhook listener. */
  readonly baseUrl: string;
  /** base64 of the PEM CA that signed the listener's certificate. */
  readonly caBundle: string;
  /** Judge AIJobs of the namespaces this selects only (a namespace-scoped operator); absent: all. */
  readonly namespaceSelector?: Record<string, unknown>;
  /** Judge only objects this selects (tests scope themselves with a label); absent: all. */
  readonly objectSelector?: Record<string, unknown>;
  /** Fail (the chart's) unless a test means to show what an outage lets through. */
  readonly failurePolicy?: 'Fail' | 'Ignore';
  readonly timeoutSeconds?: number;
}

export function webhookConfigurations(opts: WebhookConfigOptions) {
  const base = opts.baseUrl.replace(/\/$/, '');
  const hook = (w: (typeof WEBHOOK_RULES)[number]) => ({
    name: w.name,
    sideEffects: 'None',
    failurePolicy: opts.failurePolicy ?? 'Fail',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: opts.timeoutSeconds ?? 10,
    matchPolicy: 'Equivalent',
    clientConfig: { url: `${base}${w.path}`, caBundle: opts.caBundle },
    rules: [ruleOf(w)],
    ...(opts.namespaceSelector && w.scope === 'Namespaced' ? { namespaceSelector: opts.namespaceSelector } : {}),
    ...(opts.objectSelector ? { objectSelector: opts.objectSelector } : {}),
    ...(w.type === 'Mutating' ? { reinvocationPolicy: 'Never' } : {}),
  });
  return {
    validating: { metadata: { name: opts.name }, webhooks: WEBHOOK_RULES.filter((w) => w.type === 'Validating').map(hook) },
    mutating: { metadata: { name: opts.name }, webhooks: WEBHOOK_RULES.filter((w) => w.type === 'Mutating').map(hook) },
  };
}
