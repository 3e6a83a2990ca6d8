// Admission webhooks (admission.k8s.io/v1 AdmissionReview): validating for AIJobs and GPUProviders,
// defaulting (mutating) for AIJobs. The decisions are in admission-policy.ts and
// admission-defaults.ts; this file gathers their context and speaks the protocol.
// The ValidatingWebhookConfiguration uses failurePolicy: Fail, so an operator that cannot answer
// blocks creates rather than letting unjudged objects in (docs/operator.md, "Admission webhooks").
// AIJobs are judged on CREATE and on UPDATE of their spec: spec.placement may change after
// creation, and a namespace's policy must hold for it too. WEBHOOK_RULES is the one list of what
// each hook matches; the chart (charts/flotilla/templates/webhook.yaml), the tests and `make run`
// register exactly that (a test compares the chart with it).
import { claimChangeProblem } from '../core/lifecycle/claim.ts';
import { sameJson } from '../core/json.ts';
import { finalizerRemovalProblem } from './finalizer-guard.ts';
import { fundedDeadlineProblem } from './funded-deadline-guard.ts';
import { Router } from 'express';
import type { Request, Response } from 'express';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../api/group.ts';
import type { AIJob, GPUProvider } from '../api/types.ts';
import type { RunnableLimits } from '../core/validation/runnable.ts';
import { parseNamespacePolicy } from '../core/placement/namespace-policy.ts';
import { defaultAIJob } from './admission-defaults.ts';
import type { JsonPatchOp } from './admission-defaults.ts';
import { gpuProviderNeedsJudging, judgeAIJob, judgeGPUProvider } from './admission-policy.ts';
import type { SecretLookup, Verdict } from './admission-policy.ts';
import type { HubReader } from './hub-view.ts';

export const WEBHOOK_PATHS = { aijobs: '/validate/aijobs', gpuproviders: '/validate/gpuproviders', defaultAIJobs: '/mutate/aijobs' } as const;

export interface WebhookRule {
  /** The webhook's name in its configuration. */
  readonly name: string;
  readonly type: 'Validating' | 'Mutating';
  readonly path: string;
  readonly operations: readonly ('CREATE' | 'UPDATE')[];
  readonly resource: string;
  readonly scope: 'Namespaced' | 'Cluster';
}

/** Every webhook the operator serves and what it must be registered for. */
export const WEBHOOK_RULES: readonly WebhookRule[] = [
  {
    name: 'aijobs.default.flotilla.dev',
    type: 'Mutating',
    path: WEBHOOK_PATHS.defaultAIJobs,
    operations: ['CREATE', 'UPDATE'],
    resource: AIJOB.plural,
    scope: 'Namespaced',
  },
  {
    name: 'aijobs.validate.flotilla.dev',
    type: 'Validating',
    path: WEBHOOK_PATHS.aijobs,
    operations: ['CREATE', 'UPDATE'],
    resource: AIJOB.plural,
    scope: 'Namespaced',
  },
  {
    name: 'gpuproviders.validate.flotilla.dev',
    type: 'Validating',
    path: WEBHOOK_PATHS.gpuproviders,
    operations: ['CREATE', 'UPDATE'],
    resource: GPUPROVIDER.plural,
    scope: 'Cluster',
  },
];

/** A rule as admissionregistration.k8s.io/v1 writes it. */
export const ruleOf = (w: WebhookRule) => ({
  apiGroups: [GROUP],
  apiVersions: [VERSION],
  operations: [...w.operations],
  resources: [w.resource],
  scope: w.scope,
});

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { readonly group?: string; readonly version?: string; readonly kind?: string };
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly namespace?: string;
  readonly name?: string;
  readonly userInfo?: { readonly username?: string };
}

export interface AdmissionReview {
  readonly apiVersion: string;
  readonly kind: 'AdmissionReview';
  readonly request?: AdmissionRequest;
}

export interface WebhookDeps {
  readonly hub: HubReader;
  /** Accepted payment tokens (config); undefined: any token CEL accepts. */
  readonly paymentTokens?: readonly string[];
  readonly operatorNamespace: string;
  /** Reads a Secret's data keys (the hub client, rate-limited). */
  readonly lookupSecret: (namespace: string, name: string) => Promise<SecretLookup>;
  /** A hub namespace's annotations (its placement policy); absent: no policy is applied or judged. */
  readonly namespaceAnnotations?: (namespace: string) => Promise<Readonly<Record<string, string>>>;
  /** What makes a spec runnable on this hub (core/validation/runnable.ts); absent: not judged here. */
  readonly limits?: RunnableLimits;
  /** The hub settles payments: a job without spec.payment needs its namespace's allow-unpaid-jobs. */
  readonly paymentsRequired?: boolean;
  /** Why a callback URL is refused (operator/callbacks/url-policy.ts), or undefined. */
  readonly callbackUrlProblem?: (url: string) => string | undefined;
  /**
   * The operator's name (config.owner): the defaulting webhook claims new AIJobs for it and adds the
   * finalizer at creation (./admission-defaults.ts); absent: the AIJob controller does both.
   */
  readonly claimAs?: string;
  /** This operator settles payments: a paid job it claims gets the settlement finalizer at creation too. */
  readonly settles?: boolean;
  /** A namespace-scoped operator's namespace: AIJobs elsewhere are not claimed. */
  readonly watchNamespace?: string;
  /** The operator's own username: only it may remove Flotilla's finalizers (./finalizer-guard.ts). */
  readonly operatorUsername?: () => string | undefined;
  readonly log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** A verdict, and for a defaulting hook the JSON Patch to apply to the object. */
export type Answer = Verdict & { readonly patch?: readonly JsonPatchOp[] };

/** The AdmissionReview answer for a verdict (with its patch, when it has one). */
export function admissionResponse(uid: string, verdict: Answer) {
  const allowed = verdict.denials.length === 0;
  const patch = allowed && verdict.patch && verdict.patch.length > 0 ? verdict.patch : undefined;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed,
      ...(allowed ? {} : { status: { code: 422, reason: 'Invalid', message: verdict.denials.join('; ') } }),
      ...(verdict.warnings.length > 0 ? { warnings: verdict.warnings.map((w) => w.slice(0, 256)) } : {}),
      ...(patch ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
    },
  };
}

const allow: Verdict = { denials: [], warnings: [] };

export function webhookRouter(deps: WebhookDeps): Router {
  const router = Router();
  const handle = (judge: (request: AdmissionRequest) => Promise<Answer>) => async (req: Request, res: Response) => {
    const review = req.body as AdmissionReview | undefined;
    const request = review?.request;
    if (!request?.uid) {
      res.status(400).json({ error: 'expected an admission.k8s.io/v1 AdmissionReview with a request' });
      return;
    }
    try {
      const verdict = await judge(request);
      if (verdict.denials.length > 0)
        deps.log?.('info', 'admission denied', {
          kind: request.kind?.kind,
          namespace: request.namespace,
          name: request.name,
          operation: request.operation,
          denials: verdict.denials,
        });
      res.json(admissionResponse(request.uid, verdict));
    } catch (err) {
      // Fail closed, with the reason, rather than answer 500 (which the apiserver reports less clearly).
      const message = err instanceof Error ? err.message : String(err);
      deps.log?.('warn', 'admission check failed', { kind: request.kind?.kind, name: request.name, error: message });
      res.json(admissionResponse(request.uid, { denials: [`the Flotilla webhook could not judge this object: ${message}`], warnings: [] }));
    }
  };

  router.post(
    WEBHOOK_PATHS.aijobs,
    handle(async (request) => {
      const job = request.object as AIJob | undefined;
      if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !job?.spec) return allow;
      const old = request.oldObject as AIJob | undefined;
      if (request.operation === 'UPDATE') {
        const stripped = finalizerRemovalProblem(old?.metadata?.finalizers, job.metadata?.finalizers, request.userInfo?.username, deps.operatorUsername?.());
        if (stripped) return { denials: [stripped], warnings: [] };
        const later = fundedDeadlineProblem(old, job);
        if (later) return { denials: [later], warnings: [] };
        const moved = old?.metadata ? claimChangeProblem(old, job) : undefined;
        if (moved) return { denials: [moved], warnings: [] };
      }
      // Metadata and finalizer updates (the operator's own among them) are not judged: only a spec
      // change can widen what the job asks for, and a job being deleted must be able to finish.
      if (request.operation === 'UPDATE' && (job.metadata?.deletionTimestamp || sameJson(job.spec, old?.spec))) return allow;
      const namespace = request.namespace ?? job.metadata?.namespace;
      return judgeAIJob(job, {
        ...(deps.paymentTokens ? { paymentTokens: deps.paymentTokens } : {}),
        ...(deps.hub.synced ? { providers: deps.hub.providers() } : {}),
        ...(deps.limits ? { limits: deps.limits } : {}),
        ...(deps.namespaceAnnotations && namespace ? { policy: parseNamespacePolicy(await deps.namespaceAnnotations(namespace)) } : {}),
        paymentsRequired: deps.paymentsRequired ?? false,
        ...(deps.callbackUrlProblem ? { callbackUrlProblem: deps.callbackUrlProblem } : {}),
      });
    }),
  );

  router.post(
    WEBHOOK_PATHS.defaultAIJobs,
    handle(async (request) => {
      const job = request.object as AIJob | undefined;
      if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !job?.metadata || !request.namespace) return allow;
      const old = request.operation === 'UPDATE' ? (request.oldObject as AIJob | undefined) : undefined;
      if (old && job.metadata.deletionTimestamp) return allow;
      // Claimed (with the finalizer) only where this operator's controllers act: a namespace-scoped
      // operator never runs a job of another namespace, so it must not claim one.
      const claimAs = deps.claimAs && (!deps.watchNamespace || deps.watchNamespace === request.namespace) ? deps.claimAs : undefined;
      // A failed read of the namespace fails closed (handle): a job created without its namespace's
      // policy (a price cap, say) would be worse than one created a moment later.
      const policy = deps.namespaceAnnotations ? await deps.namespaceAnnotations(request.namespace) : undefined;
      const defaults = defaultAIJob(job, policy, old, claimAs ? { claimAs, settles: deps.settles === true } : {});
      if (defaults.applied.length > 0 || defaults.metadata.length > 0)
        deps.log?.('info', 'admission defaulted', {
          namespace: request.namespace,
          name: request.name,
          operation: request.operation,
          fields: [...defaults.applied, ...defaults.metadata],
          ...(defaults.metadata.length > 0 ? { managedBy: claimAs } : {}),
        });
      return { denials: [], warnings: defaults.warnings, patch: defaults.patch };
    }),
  );

  router.post(
    WEBHOOK_PATHS.gpuproviders,
    handle(async (request) => {
      if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !request.object) return allow;
      const provider = request.object as GPUProvider;
      if (request.operation === 'UPDATE' && !gpuProviderNeedsJudging(provider, request.oldObject as GPUProvider | undefined)) return allow;
      const ref = provider.spec?.kubeconfigSecretRef;
      if (!ref) return allow; // the schema requires it; nothing for us to add
      const secret = await deps.lookupSecret(ref.namespace, ref.name);
      return judgeGPUProvider(provider, { secret, operatorNamespace: deps.operatorNamespace });
    }),
  );

  return router;
}
