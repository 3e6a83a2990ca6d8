// One operator per job: two operators that both see a namespace (each leading under its own Lease,
// as `make run` beside `make demo` did) never both act on one job. Each job is claimed by exactly one
// of them (flotilla.dev/managed-by, written with a precondition), only that one creates its pods,
// and the other says it leaves the job alone. A tenant may name the operator at creation.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { AIJob } from '../../operator/api/types.ts';
import { MANAGED_BY_ANNOTATION } from '../../operator/core/lifecycle/claim.ts';
import { createAIJob, smallJob } from '../http/support.ts';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, readAIJob } from '../support/federation.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
let ns = '';
const operators: Record<string, OperatorProcess> = {};
const JOBS = 6;

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-claim');
  // Same namespace, different Leases: both lead, both see every job.
  // An operator's name is its Lease's namespace/name (startOperator keeps Leases in flotilla-system).
  for (const lease of [`${ns}-a`, `${ns}-b`])
    operators[`flotilla-system/${lease}`] = startOperator(ns, { FLOTILLA_LEASE_NAME: lease, FLOTILLA_IDENTITY: lease });
  for (const o of Object.values(operators))
    await pollUntil(
      'operator leading',
      async () => o.logs(),
      (l) => l.includes('"msg":"leading"'),
      60_000,
      250,
    );
}, 90_000);

afterAll(async () => {
  for (const o of Object.values(operators)) await o.stop();
  await deleteNamespace(hub.core, ns);
});

const create = (name: string, annotations?: Record<string, string>) => createAIJob(custom, smallJob(name, ns, 2), annotations);

it('two operators seeing one namespace: each job is claimed by exactly one, runs once, and the other leaves it alone', async () => {
  const names = Array.from({ length: JOBS }, (_, i) => `race-${i}`);
  await Promise.all(names.map((n) => create(n)));
  for (const name of names) {
    const done = (await pollUntil(
      `${name} Succeeded`,
      () => readAIJob(ns, name),
      (j) => j?.status?.phase === 'Succeeded',
      120_000,
      250,
    )) as AIJob;
    const owner = done.metadata.annotations?.[MANAGED_BY_ANNOTATION] ?? '';
    expect(Object.keys(operators)).toContain(owner);
    // One attempt with one pod, created by the owner only: the other operator created nothing.
    expect(done.status?.attempts).toHaveLength(1);
    expect(done.status?.attempts?.[0]?.pods).toHaveLength(1);
    const created = (o: OperatorProcess) =>
      o
        .logs()
        .split('\n')
        .filter((l) => l.includes('"msg":"created remote pods"') && l.includes(`"job":"${ns}/${name}"`)).length;
    expect(created(operators[owner]!)).toBe(1);
    // The other one said it left the job alone; the owner never did.
    const other = Object.entries(operators).find(([n]) => n !== owner)![1];
    await pollUntil(
      `the other operator leaves ${name} alone`,
      async () => other.logs(),
      (l) => l.includes(`"msg":"job run by another operator; leaving it alone","job":"${ns}/${name}","managedBy":"${owner}"`),
      15_000,
      250,
    );
    expect(operators[owner]!.logs()).not.toContain(`"msg":"job run by another operator; leaving it alone","job":"${ns}/${name}"`);
    expect(created(other)).toBe(0);
  }
}, 240_000);

it('a tenant names the operator at creation: only that one runs the job', async () => {
  const chosen = `flotilla-system/${ns}-b`;
  await create('chosen', { [MANAGED_BY_ANNOTATION]: chosen });
  const done = (await pollUntil(
    'chosen Succeeded',
    () => readAIJob(ns, 'chosen'),
    (j) => j?.status?.phase === 'Succeeded',
    120_000,
    250,
  )) as AIJob;
  expect(done.metadata.annotations?.[MANAGED_BY_ANNOTATION]).toBe(chosen);
  expect(done.status?.attempts?.[0]?.pods).toHaveLength(1);
  expect(operators[`flotilla-system/${ns}-a`]!.logs()).toContain(
    `"msg":"job run by another operator; leaving it alone","job":"${ns}/chosen","managedBy":"${chosen}"`,
  );
  expect(operators[chosen]!.logs()).toContain(`"job":"${ns}/chosen"`);
}, 180_000);
