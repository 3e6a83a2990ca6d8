// Admission webhooks (admission.k8s.io/v1 AdmissionReview): validating for AIJobs and GPUProviders,
// defaulting (mutating) for AIJobs. The decisions are in admission-policy.ts and
// admission-defaults.ts; this file gathers their context and speaks the protocol.
// The ValidatingWebhookConfiguration uses failurePolicy: Fail, so an operator that cannot answer
// blocks creates rather than letting unjudged objects in (docs/operator.md, "Admission webhooks").
import { Router } from 'express';
import type { Request, Response } from 'express';
import type { AIJob, GPUProvider } from '../api/types.ts';
import { defaultAIJob } from './admission-defaults.ts';
import type { JsonPatchOp } from './admission-defaults.ts';
import { gpuProviderNeedsJudging, judgeAIJob, judgeGPUProvider } from './admission-policy.ts';
import type { SecretLookup, Verdict } from './admission-policy.ts';
import type { HubReader } from './hub-view.ts';

export const WEBHOOK_PATHS = { aijobs: '/validate/aijobs', gpuproviders: '/validate/gpuproviders', defaultAIJobs: '/mutate/aijobs' } as const;

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { readonly group?: string; readonly version?: string; readonly kind?: string };
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly namespace?: string;
  readonly name?: string;
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
  /** A hub namespace's annotations (its per-namespace AIJob defaults); absent: no defaulting. */
  readonly namespaceAnnotations?: (namespace: string) => Promise<Readonly<Record<string, string>>>;
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
      if (verdict.denials.length > 0) deps.log?.('info', 'admission denied', { kind: request.kind?.kind, namespace: request.namespace, name: request.name, operation: request.operation, denials: verdict.denials });
      res.json(admissionResponse(request.uid, verdict));
    } catch (err) {
      // Fail closed, with the reason, rather than answer 500 (which the apiserver reports less clearly).
      const message = err instanceof Error ? err.message : String(err);
      deps.log?.('warn', 'admission check failed', { kind: request.kind?.kind, name: request.name, error: message });
      res.json(admissionResponse(request.uid, { denials: [`the Flotilla webhook could not judge this object: ${message}`], warnings: [] }));
    }
  };

  router.post(WEBHOOK_PATHS.aijobs, handle(async (request) => {
    if (request.operation !== 'CREATE' || !request.object) return allow;
    return judgeAIJob(request.object as AIJob, {
      ...(deps.paymentTokens ? { paymentTokens: deps.paymentTokens } : {}),
      ...(deps.hub.synced ? { providers: deps.hub.providers() } : {}),
    });
  }));

  router.post(WEBHOOK_PATHS.defaultAIJobs, handle(async (request) => {
    const job = request.object as AIJob | undefined;
    if (request.operation !== 'CREATE' || !job || !request.namespace || !deps.namespaceAnnotations) return allow;
    // A failed read of the namespace fails closed (handle): a job created without its namespace's
    // defaults (a price cap, say) would be worse than one created a moment later.
    const defaults = defaultAIJob(job, await deps.namespaceAnnotations(request.namespace));
    if (defaults.applied.length > 0) deps.log?.('info', 'admission defaulted', { namespace: request.namespace, name: request.name, fields: defaults.applied });
    return { denials: [], warnings: defaults.warnings, patch: defaults.patch };
  }));

  router.post(WEBHOOK_PATHS.gpuproviders, handle(async (request) => {
    if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !request.object) return allow;
    const provider = request.object as GPUProvider;
    if (request.operation === 'UPDATE' && !gpuProviderNeedsJudging(provider, request.oldObject as GPUProvider | undefined)) return allow;
    const ref = provider.spec?.kubeconfigSecretRef;
    if (!ref) return allow; // the schema requires it; nothing for us to add
    const secret = await deps.lookupSecret(ref.namespace, ref.name);
    return judgeGPUProvider(provider, { secret, operatorNamespace: deps.operatorNamespace });
  }));

  return router;
}
