// Chaos 8: bad input, and a burst while providers churn.
//
//   generated   every leaf of an AIJob and a GPUProvider that use every field, mutated (seeded) into
//               a value of the wrong JSON type, a huge number, a huge or unicode string, an empty
//               value, or removed: the real apiserver either accepts it or rejects it with a message
//               naming that field — a wrong type is always rejected
//   burst       200 valid jobs at once while one provider is cordoned and uncordoned and another is
//               deleted and registered again: nothing is lost (the oracle: every job Succeeded, one
//               live attempt at a time, no orphan pod)
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import { fullAiJob, gpuProviderManifest } from '../support/admission-cases.ts';
import { seededRandom } from '../support/placement-fixtures.ts';
import type { GPUProvider } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace } from '../support/federation.ts';
import { listJobs } from '../support/corner.ts';
import type { OpenCorner } from '../support/corner.ts';
import { CHAOS_RUNS, assertFederationHealthy, chaosJob, createJobs, openChaosCorner, startChaosOperator, tearDownCorner } from './suite.ts';
import { expectAll, oracle } from './oracle.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = ReadonlyArray<string | number>;

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every leaf (scalar) of `value`, with its path; map keys with dots stay one step. */
function leaves(value: Json, path: Path = []): Array<{ path: Path; value: Json }> {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...path, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [{ path, value }];
}

function setAt(object: Json, path: Path, value: Json | undefined): Json {
  const copy = structuredClone(object) as Record<string | number, Json>;
  let at = copy;
  for (const step of path.slice(0, -1)) at = at[step] as Record<string | number, Json>;
  const last = path[path.length - 1] ?? '';
  if (value === undefined) {
    if (Array.isArray(at)) at.splice(Number(last), 1);
    else delete at[last];
  } else {
    at[last] = value;
  }
  return copy;
}

/** The apiserver's spelling of a path: spec.inputs[0].cid. */
const fieldPath = (path: Path) => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

interface Mutation {
  readonly kind: 'wrong-type' | 'huge-number' | 'huge-string' | 'unicode' | 'empty' | 'removed';
  readonly value: Json | undefined;
}

function mutationsOf(original: Json, random: () => number): Mutation[] {
  // Wrong for every field whatever its schema: quantities take numbers and strings alike, so a
  // number in place of a string is not always wrong — an object, a list or a boolean is.
  const wrongType: Json =
    typeof original === 'boolean'
      ? random() < 0.5
        ? 'not-a-boolean'
        : { nested: 'object' }
      : ([[1, 2], { nested: 'object' }, true][Math.floor(random() * 3)] ?? true);
  const all: Mutation[] = [
    { kind: 'wrong-type', value: wrongType },
    { kind: 'huge-number', value: random() < 0.5 ? 1e308 : -9_007_199_254_740_991 },
    { kind: 'huge-string', value: 'x'.repeat(4096 + Math.floor(random() * 4096)) },
    { kind: 'unicode', value: ['Ünïcødé 🚀', 'שלום', '\u202Eevil', 'a\u0000b'][Math.floor(random() * 4)] ?? '' },
    { kind: 'empty', value: typeof original === 'number' ? 0 : '' },
    { kind: 'removed', value: undefined },
  ];
  return all;
}

async function verdict(kind: 'aijobs' | 'gpuproviders', namespace: string, body: Json): Promise<string> {
  try {
    if (kind === 'aijobs')
      await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: kind, namespace, body, fieldValidation: 'Strict', dryRun: 'All' });
    else await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: kind, body, fieldValidation: 'Strict', dryRun: 'All' });
    return 'accepted';
  } catch (err) {
    const text = (err as { body?: string }).body;
    if (!text) throw err;
    return (JSON.parse(text) as { message: string }).message;
  }
}

/** Names the field: the full path, its path with [] for indices (CEL messages), or its parent with the leaf's name. */
function namesField(message: string, path: Path): boolean {
  const full = fieldPath(path);
  const generic = full.replace(/\[\d+\]/g, '[]');
  const parent = fieldPath(path.slice(0, -1));
  const last = path[path.length - 1];
  const leaf = String(last);
  // An element of a list (removed, say): naming the list names it.
  if (typeof last === 'number' && parent !== '' && message.includes(parent)) return true;
  return message.includes(full) || message.includes(generic) || (parent !== '' && message.includes(parent) && message.includes(leaf));
}

const fullProvider = gpuProviderManifest(
  {
    namespace: 'gpu-lending',
    region: 'eu-west',
    maxGpus: 64,
    cordoned: false,
    priorityClassName: 'low',
    ipfsGateway: 'http://127.0.0.1:8080',
    kubeconfigSecretRef: { name: 's', namespace: 'flotilla-system', key: 'kubeconfig' },
    prices: [{ gpuProduct: 'NVIDIA-H100-80GB-HBM3', pricePerGpuHour: '2.80' }],
  },
  'full',
);

describe('generated malformed manifests, judged by the real apiserver', () => {
  let ns = '';
  beforeAll(async () => {
    ns = await createNamespace(hub.core, 't-badinput');
  });
  afterAll(async () => {
    await deleteNamespace(hub.core, ns);
  });

  const seed = Number(process.env.FLOTILLA_CHAOS_SEED ?? '') || randomBytes(4).readUInt32BE() >>> 0;
  it.each([
    ['AIJob', 'aijobs' as const, fullAiJob as unknown as Json],
    ['GPUProvider', 'gpuproviders' as const, fullProvider as unknown as Json],
  ])(
    `%s: every leaf mutated is accepted or rejected naming the field (seed ${seed})`,
    async (_kind, plural, manifest) => {
      const random = seededRandom(seed);
      const base = (m: Json) =>
        setAt(setAt(m, ['metadata', 'name'], `bad-${randomBytes(3).toString('hex')}`), ['metadata', 'namespace'], plural === 'aijobs' ? ns : undefined);
      const problems: string[] = [];
      let rejected = 0;
      let tried = 0;
      for (const leaf of leaves(manifest).filter((l) => l.path[0] === 'spec')) {
        for (const m of mutationsOf(leaf.value, random)) {
          const got = await verdict(plural, ns, base(setAt(manifest, leaf.path, m.value)));
          tried++;
          const where = `${fieldPath(leaf.path)} ${m.kind} ${JSON.stringify(m.value)?.slice(0, 40) ?? '(removed)'}`;
          if (got === 'accepted') {
            if (m.kind === 'wrong-type') problems.push(`${where}: accepted`);
            continue;
          }
          rejected++;
          if (!namesField(got, leaf.path)) problems.push(`${where}: rejected without naming the field: ${got.slice(0, 300)}`);
        }
      }
      expect(problems).toEqual([]);
      // The generator really produced bad input (most mutations are rejected).
      expect(tried).toBeGreaterThan(50);
      expect(rejected).toBeGreaterThan(tried / 2);
    },
    120_000,
  );
});

describe('a burst of 200 valid jobs while providers churn', () => {
  let corner: OpenCorner;
  beforeAll(async () => {
    corner = await openChaosCorner({ nodesPerProvider: 2 });
  }, 120_000);
  afterAll(async () => {
    await tearDownCorner(corner, { timeoutMs: 240_000 });
    await assertFederationHealthy();
  }, 300_000);

  for (let run = 1; run <= CHAOS_RUNS; run++) {
    it(`run ${run}/${CHAOS_RUNS}: nothing is lost`, async () => {
      const op = startChaosOperator(corner, { FLOTILLA_PROVIDER_GRACE_MS: '5000' });
      try {
        const names = Array.from({ length: 200 }, (_, i) => `burst-r${run}-${i}`);
        const created = createJobs(names.map((name) => chaosJob(corner, name, { runSeconds: 1, gpus: 1, pin: false })));
        const [a, b] = corner.providers.values();
        const gp = (name: string) =>
          custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name }) as Promise<GPUProvider>;
        const cordon = (name: string, cordoned: boolean) =>
          custom.patchClusterCustomObject({
            group: GROUP,
            version: VERSION,
            plural: GPUPROVIDER.plural,
            name,
            body: [{ op: 'add', path: '/spec/cordoned', value: cordoned }],
          });
        // Churn while the burst is placed and runs: a cordoned, uncordoned; b deleted and registered again.
        const bManifest = await gp(b?.name ?? '');
        for (let i = 0; i < 3; i++) {
          await cordon(a?.name ?? '', true);
          await sleep(2_000);
          await cordon(a?.name ?? '', false);
          await sleep(1_000);
        }
        await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: b?.name ?? '' });
        await sleep(3_000);
        await custom.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: GPUPROVIDER.plural,
          body: {
            apiVersion: bManifest.apiVersion,
            kind: bManifest.kind,
            metadata: { name: bManifest.metadata.name, labels: bManifest.metadata.labels },
            spec: bManifest.spec,
          },
        });
        await created;
        // Nothing lost: all 200 there, every one Succeeded, at most a few attempts each, no orphans.
        expect((await listJobs(corner.hubNamespace)).filter((j) => names.includes(j.metadata.name ?? ''))).toHaveLength(200);
        const violations = await oracle(corner, { jobs: expectAll(names, { maxAttempts: 4 }), chain: false, timeoutMs: 300_000 });
        expect(violations).toEqual([]);
      } finally {
        await op.stop();
      }
    }, 600_000);
  }
});
