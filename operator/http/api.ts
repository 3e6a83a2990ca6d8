// The read-only JSON API, answered from the hub view's caches (no apiserver request per call):
//
//   GET /api/v1/providers               every GPUProvider: readiness, region, prices, inventory, reputation
//   GET /api/v1/jobs[?namespace=&phase=] AIJob summaries
//   GET /api/v1/jobs/:namespace/:name   one AIJob: summary, attempts, conditions, artifacts, settlement
//
// 503 while the caches are not synced (an empty list would be a lie); 404 with a message for an
// unknown job. The shapes are documented in docs/operator.md ("HTTP endpoints").
import { Router } from 'express';
import type { AIJob, GPUProvider } from '../api/types.ts';
import type { HubReader } from './hub-view.ts';

const conditionStatus = (obj: { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }, type: string) =>
  obj.status?.conditions?.find((c) => c.type === type);

export function providerSummary(p: GPUProvider) {
  const ready = conditionStatus(p, 'Ready');
  const reachable = conditionStatus(p, 'Reachable');
  return {
    name: p.metadata.name ?? '',
    region: p.spec.region ?? null,
    ready: ready?.status === 'True',
    readyReason: ready ? `${ready.reason}: ${ready.message}` : null,
    reachable: reachable?.status === 'True',
    cordoned: p.spec.cordoned === true,
    namespace: p.spec.namespace,
    payoutAddress: p.spec.payoutAddress,
    prices: p.spec.prices,
    maxGpus: p.spec.maxGpus ?? null,
    allocatableGpus: p.status?.allocatableGpus ?? 0,
    freeGpus: p.status?.freeGpus ?? 0,
    inventory: p.status?.inventory ?? [],
    reputation: p.status?.reputation ?? {},
    lastSeen: p.status?.lastSeen ?? null,
  };
}

export function jobSummary(j: AIJob) {
  return {
    namespace: j.metadata.namespace ?? '',
    name: j.metadata.name ?? '',
    uid: j.metadata.uid ?? '',
    phase: j.status?.phase ?? 'Pending',
    provider: j.status?.placement?.provider ?? null,
    product: j.status?.placement?.product ?? null,
    replicas: j.spec.replicas,
    gpus: j.spec.replicas * j.spec.resources.gpus,
    attempts: j.status?.attempts?.length ?? 0,
    cost: j.status?.cost ?? null,
    outputCID: j.status?.outputCID ?? null,
    created: j.metadata.creationTimestamp ?? null,
    completed: j.status?.completionTime ?? null,
  };
}

export function jobDetail(j: AIJob) {
  return {
    ...jobSummary(j),
    spec: {
      image: j.spec.image,
      gpu: j.spec.gpu ?? {},
      resources: j.spec.resources,
      payment: j.spec.payment ?? null,
      placement: j.spec.placement ?? {},
      recovery: j.spec.recovery,
      callbackURL: j.spec.callbackURL ?? null,
    },
    placement: j.status?.placement ?? null,
    attemptHistory: j.status?.attempts ?? [],
    conditions: j.status?.conditions ?? [],
    receiptCID: j.status?.receiptCID ?? null,
    funding: j.status?.funding ?? null,
    settlement: j.status?.settlement ?? null,
  };
}

export function apiRouter(hub: HubReader, watchNamespace?: string): Router {
  const router = Router();
  router.use('/api/v1', (_req, res, next) => {
    if (hub.synced) return next();
    res.status(503).json({ error: 'the operator\'s hub caches are not synced yet', reasons: hub.notSynced() });
  });
  router.get('/api/v1/providers', (_req, res) => {
    res.json({ items: [...hub.providers()].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '')).map(providerSummary) });
  });
  router.get('/api/v1/jobs', (req, res) => {
    const namespace = typeof req.query.namespace === 'string' ? req.query.namespace : undefined;
    const phase = typeof req.query.phase === 'string' ? req.query.phase : undefined;
    const items = hub.jobs(namespace).map(jobSummary).filter((j) => !phase || j.phase === phase)
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    res.json({ items });
  });
  router.get('/api/v1/jobs/:namespace/:name', (req, res) => {
    const { namespace, name } = req.params;
    const job = hub.job(namespace, name);
    if (!job) {
      res.status(404).json({ error: `AIJob ${namespace}/${name} not found${watchNamespace && watchNamespace !== namespace ? ` (this operator watches namespace ${watchNamespace} only)` : ''}` });
      return;
    }
    res.json(jobDetail(job));
  });
  return router;
}
