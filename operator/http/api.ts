// The read-only JSON API, answered from the hub view's caches (no apiserver request per call):
//
//   GET /api/v1/providers               every GPUProvider: readiness, region, prices, inventory, reputation
//   GET /api/v1/jobs[?namespace=&phase=] AIJob summaries, of the namespaces the caller may list
//   GET /api/v1/jobs/:namespace/:name   one AIJob: summary, attempts, conditions, artifacts, settlement
//   GET /api/v1/jobs/:namespace/:name/logs?replica=&attempt=&follow=   a replica's log (pod-logs.ts)
//
// Every request carries a bearer token the hub authenticates (auth.ts): none or an invalid one is
// 401. Jobs are shown only where the caller may get/list AIJobs (SubjectAccessReview): a job or a
// ?namespace= it may not read is 403 (before any 404, so existence does not leak), the unfiltered
// list holds only the namespaces it may list. Providers are shown to any authenticated caller,
// without what would help attack them: no condition messages (they name each provider's API
// server URL), no provider-side namespace. URLs in job messages are masked the same way.
//
// 503 while the caches are not synced (an empty list would be a lie), or while the hub cannot
// review the token; 429 when too many reviews are in flight. The shapes are documented in
// docs/operator.md ("HTTP endpoints").
import { Router } from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { AIJob, GPUProvider } from '../api/types.ts';
import { findCondition } from '../core/conditions.ts';
import { AuthUnavailable, bearerToken, TooManyReviews } from './auth.ts';
import type { AccessCheck, ApiAuth, UserInfo } from './auth.ts';
import type { HubReader } from './hub-view.ts';
import { podLogHandler } from './pod-logs.ts';
import type { LogSource, PodLogLimits } from './pod-logs.ts';

const conditionStatus = (obj: { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }, type: string) =>
  findCondition(obj.status?.conditions, type);

export function providerSummary(p: GPUProvider) {
  const ready = conditionStatus(p, 'Ready');
  const reachable = conditionStatus(p, 'Reachable');
  return {
    name: p.metadata.name ?? '',
    region: p.spec.region ?? null,
    ready: ready?.status === 'True',
    // The reason only: the messages name the provider's API server URL.
    readyReason: ready?.reason ?? null,
    reachable: reachable?.status === 'True',
    cordoned: p.spec.cordoned === true,
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
    attemptHistory: (j.status?.attempts ?? []).map((a) => (a.message ? { ...a, message: maskUrls(a.message) } : a)),
    conditions: (j.status?.conditions ?? []).map((c) => ({ ...c, message: maskUrls(c.message) })),
    receiptCID: j.status?.receiptCID ?? null,
    funding: j.status?.funding ?? null,
    settlement: j.status?.settlement ?? null,
  };
}

/** Replaces every URL in a message (a provider's API server among them) with "<url>". */
export function maskUrls(message: string): string {
  return message.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()]+/gi, '<url>');
}

const userOf = (res: Response) => res.locals.user as UserInfo;

function failAuth(res: Response, err: unknown): void {
  if (err instanceof TooManyReviews) {
    res.set('Retry-After', '1').status(429).json({ error: 'too many requests being authorized; retry shortly' });
  } else if (err instanceof AuthUnavailable) {
    res.status(503).json({ error: err.message });
  } else {
    res.status(500).json({ error: 'authorization failed' });
  }
}

/** 401 without a token the hub authenticates; otherwise the user in res.locals.user. */
export function requireUser(auth: ApiAuth) {
  return (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req.get('authorization'));
    const unauthorized = (why: string) => void res.set('WWW-Authenticate', 'Bearer realm="flotilla"').status(401).json({ error: why });
    if (!token) return unauthorized('a bearer token is required (Authorization: Bearer <token>; e.g. kubectl create token)');
    auth.authenticate(token).then(
      (user) => {
        if (!user) return unauthorized('the hub does not accept this token');
        res.locals.user = user;
        next();
      },
      (err: unknown) => failAuth(res, err),
    );
  };
}

const describeCheck = (c: AccessCheck) => `${c.verb} aijobs${c.name ? ` ${c.name}` : ''}${c.namespace ? ` in namespace ${c.namespace}` : ' in all namespaces'}`;

async function forbidden(auth: ApiAuth, res: Response, check: AccessCheck): Promise<boolean> {
  if (await auth.allowed(userOf(res), check)) return false;
  res.status(403).json({ error: `${userOf(res).username} may not ${describeCheck(check)}` });
  return true;
}

/** Namespaces among `namespaces` the user may list AIJobs in (a few reviews at a time; cached). */
async function listable(auth: ApiAuth, user: UserInfo, namespaces: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < namespaces.length; i += 8) {
    const batch = namespaces.slice(i, i + 8);
    const answers = await Promise.all(batch.map((namespace) => auth.allowed(user, { verb: 'list', namespace })));
    batch.forEach((namespace, k) => {
      if (answers[k]) out.add(namespace);
    });
  }
  return out;
}

export interface ApiLogs {
  readonly source: LogSource;
  readonly limits?: PodLogLimits;
}

export function apiRouter(hub: HubReader, auth: ApiAuth, watchNamespace?: string, logs?: ApiLogs): Router {
  const router = Router();
  router.use('/api/v1', requireUser(auth));
  router.use('/api/v1', (_req, res, next) => {
    if (hub.synced) return next();
    res.status(503).json({ error: "the operator's hub caches are not synced yet", reasons: hub.notSynced() });
  });
  const handle = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response) =>
    void fn(req, res).catch((err: unknown) => failAuth(res, err));
  router.get('/api/v1/providers', (_req, res) => {
    res.json({ items: [...hub.providers()].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '')).map(providerSummary) });
  });
  router.get(
    '/api/v1/jobs',
    handle(async (req, res) => {
      const namespace = typeof req.query.namespace === 'string' && req.query.namespace !== '' ? req.query.namespace : undefined;
      const phase = typeof req.query.phase === 'string' ? req.query.phase : undefined;
      let jobs = hub.jobs(namespace);
      if (namespace) {
        if (await forbidden(auth, res, { verb: 'list', namespace })) return;
      } else if (!(await auth.allowed(userOf(res), { verb: 'list' }))) {
        const allowed = await listable(auth, userOf(res), [...new Set(jobs.map((j) => j.metadata.namespace ?? ''))].sort());
        jobs = jobs.filter((j) => allowed.has(j.metadata.namespace ?? ''));
      }
      const items = jobs
        .map(jobSummary)
        .filter((j) => !phase || j.phase === phase)
        .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
      res.json({ items });
    }),
  );
  /** The job of :namespace/:name when the caller may get it; otherwise undefined and the 403/404 sent. */
  const readableJob = async (req: Request, res: Response): Promise<AIJob | undefined> => {
    const namespace = String(req.params.namespace);
    const name = String(req.params.name);
    if (await forbidden(auth, res, { verb: 'get', namespace, name })) return undefined;
    const job = hub.job(namespace, name);
    if (!job)
      res.status(404).json({
        error: `AIJob ${namespace}/${name} not found${watchNamespace && watchNamespace !== namespace ? ` (this operator watches namespace ${watchNamespace} only)` : ''}`,
      });
    return job;
  };
  router.get(
    '/api/v1/jobs/:namespace/:name',
    handle(async (req, res) => {
      const job = await readableJob(req, res);
      if (job) res.json(jobDetail(job));
    }),
  );
  // Reading a job's logs is reading the job: the same `get aijobs <name>` review (docs/operator.md).
  const logsOf = podLogHandler({
    source: logs?.source ?? { active: false, provider: () => undefined },
    ...(logs?.limits ? { limits: logs.limits } : {}),
    mask: maskUrls,
  });
  router.get(
    '/api/v1/jobs/:namespace/:name/logs',
    handle(async (req, res) => {
      const job = await readableJob(req, res);
      if (job) await logsOf(job, req, res);
    }),
  );
  return router;
}
