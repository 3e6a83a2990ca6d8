// Properties of placeJob on seeded random federations (with cordons, taints, time-slicing, MIG,
// quotas, missing prices): it never over-allocates a node, it agrees with a brute-force oracle on
// which (provider, product) candidates are feasible and on the cheapest one, and its decision does
// not depend on anything but the input's content (not on input order, not on a second run).

import { gpuOffersOfNode, encodeComputeCapability } from './gfd.ts';
import { placeJob, placeJobIndexed } from './place-job.ts';
import { indexProviders } from './provider-index.ts';
import { withReservation } from './reservation.ts';
import { expectedCostToFinish } from './score.ts';
import { DEFAULT_TOLERATIONS, untoleratedTaints } from './taints.ts';
import { integer, seededRandom, shuffle, syntheticDemand, syntheticFederation } from '../../../test/support/placement-fixtures.ts';
import type { Random } from '../../../test/support/placement-fixtures.ts';
import type { JobDemand, Placement, PlacementDecision, ProviderSnapshot } from './types.ts';

const now = Date.UTC(2025, 0, 1);

interface OracleCandidate {
  readonly provider: string;
  readonly key: string;
  readonly costNumerator: bigint;
}

/** Feasible candidates by the definition, node by node, with no index and no early exit. */
function bruteForce(demand: JobDemand, providers: readonly ProviderSnapshot[]): OracleCandidate[] {
  const found: OracleCandidate[] = [];
  const gangGpus = demand.replicas * demand.gpusPerReplica;
  const tolerations = [...DEFAULT_TOLERATIONS, ...(demand.extraTolerations ?? [])];
  const minCc = demand.minComputeCapability ? encodeComputeCapability(demand.minComputeCapability.major, demand.minComputeCapability.minor) : -1;
  for (const p of providers) {
    if (demand.deniedProviders?.includes(p.name)) continue;
    if (demand.allowedProviders?.length && !demand.allowedProviders.includes(p.name)) continue;
    if (demand.regions?.length && !demand.regions.includes(p.region)) continue;
    if (!p.ready || p.cordoned) continue;
    if ((demand.coolDowns ?? []).some((c) => c.provider === p.name && now < c.until)) continue;
    if (demand.minCompletionRatePpm !== undefined && p.reputation.completionRatePpm < demand.minCompletionRatePpm) continue;
    if (p.gpuQuotaRemaining !== undefined && p.gpuQuotaRemaining < gangGpus) continue;
    const capacity = new Map<string, { product: string; replicas: number }>();
    for (const node of p.nodes) {
      if (!node.ready || node.unschedulable || untoleratedTaints(node.taints, tolerations).length > 0) continue;
      for (const offer of gpuOffersOfNode(node)) {
        const accepted = demand.products.length > 0 ? demand.products.includes(offer.product) : !offer.shared && !offer.mig;
        if (!accepted) continue;
        if ((offer.gpuMemoryMiB ?? 0) < (demand.minGpuMemoryMiB ?? 0)) continue;
        if ((offer.computeCapability ?? -1) < minCc) continue;
        let fit = Math.floor(offer.free / demand.gpusPerReplica);
        if (demand.cpuMillisPerReplica > 0) fit = Math.min(fit, Math.floor(Math.max(0, node.free.cpuMillis) / demand.cpuMillisPerReplica));
        if (demand.memoryBytesPerReplica > 0) fit = Math.min(fit, Math.floor(Math.max(0, node.free.memoryBytes) / demand.memoryBytesPerReplica));
        const key = `${offer.product}|${offer.resourceName}|${offer.productLabelValue}`;
        const entry = capacity.get(key) ?? { product: offer.product, replicas: 0 };
        entry.replicas += fit;
        capacity.set(key, entry);
      }
    }
    for (const [key, { product, replicas }] of capacity) {
      const price = p.prices.find((x) => x.product === product)?.pricePerGpuHour;
      if (price === undefined || replicas < demand.replicas) continue;
      if (demand.maxPricePerGpuHour !== undefined && price > demand.maxPricePerGpuHour) continue;
      const { costNumerator } = expectedCostToFinish({
        pricePerGpuHour: price,
        remainingGpuSeconds: demand.remainingGpuSeconds,
        gangGpus,
        checkpointIntervalSeconds: demand.checkpointIntervalSeconds,
        preemptionsPerMillionGpuHours: p.reputation.preemptionsPerMillionGpuHours,
      });
      found.push({ provider: p.name, key, costNumerator });
    }
  }
  return found;
}

/** Every way a placement could break a node or the demand; empty when it is sound. */
function violations(placement: Placement, demand: JobDemand, providers: readonly ProviderSnapshot[]): string[] {
  const problems: string[] = [];
  const provider = providers.find((p) => p.name === placement.provider);
  if (!provider) return [`unknown provider ${placement.provider}`];
  if (placement.assignments.length !== demand.replicas) problems.push(`${placement.assignments.length} assignments for ${demand.replicas} replicas`);
  const perNode = new Map<string, number>();
  for (const name of placement.assignments) perNode.set(name, (perNode.get(name) ?? 0) + 1);
  const tolerations = [...DEFAULT_TOLERATIONS, ...(demand.extraTolerations ?? [])];
  for (const [name, replicas] of perNode) {
    const node = provider.nodes.find((n) => n.name === name);
    if (!node) {
      problems.push(`node ${name} is not in ${provider.name}`);
      continue;
    }
    const offer = gpuOffersOfNode(node).find((o) => o.resourceName === placement.resourceName && o.product === placement.product);
    if (!offer) problems.push(`${name} does not offer ${placement.product} as ${placement.resourceName}`);
    if (replicas * demand.gpusPerReplica > (node.free.extended[placement.resourceName] ?? 0)) problems.push(`${name}: GPUs over-allocated`);
    if (replicas * demand.cpuMillisPerReplica > node.free.cpuMillis) problems.push(`${name}: CPU over-allocated`);
    if (replicas * demand.memoryBytesPerReplica > node.free.memoryBytes) problems.push(`${name}: memory over-allocated`);
    if (!node.ready || node.unschedulable) problems.push(`${name} is not usable`);
    if (untoleratedTaints(node.taints, tolerations).length > 0) problems.push(`${name} has an untolerated taint`);
    if ((offer?.gpuMemoryMiB ?? 0) < (demand.minGpuMemoryMiB ?? 0)) problems.push(`${name} is below the GPU memory floor`);
  }
  return problems;
}

function shuffledCopy(random: Random, providers: readonly ProviderSnapshot[]): ProviderSnapshot[] {
  return shuffle(
    random,
    providers.map((p) => ({ ...p, nodes: shuffle(random, [...p.nodes]), prices: shuffle(random, [...p.prices]) })),
  );
}

function federation(seed: number): { random: Random; providers: ProviderSnapshot[] } {
  const random = seededRandom(seed);
  const providers = syntheticFederation(random, {
    providers: integer(random, 1, 6),
    nodesPerProvider: integer(random, 0, 14),
    edgeCases: true,
  });
  return { random, providers };
}

const seeds = Array.from({ length: 300 }, (_, i) => i + 1);
const jobsPerSeed = 8;

describe('placeJob on random federations', () => {
  it('never over-allocates a node and places the whole gang on one provider', () => {
    const failures: string[] = [];
    let placed = 0;
    for (const seed of seeds) {
      const { random, providers } = federation(seed);
      for (let j = 0; j < jobsPerSeed; j++) {
        const demand = syntheticDemand(
          random,
          providers.map((p) => p.name),
          now,
        );
        const decision = placeJob(demand, providers, now);
        if (decision.outcome !== 'Placed') continue;
        placed += 1;
        for (const problem of violations(decision.placement, demand, providers)) failures.push(`seed ${seed} job ${j}: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
    expect(placed).toBeGreaterThan(seeds.length); // the generator must exercise the placed path too
  });

  it('agrees with a brute-force oracle on feasibility and on the cheapest candidate', () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      const { random, providers } = federation(seed);
      for (let j = 0; j < jobsPerSeed; j++) {
        const demand = syntheticDemand(
          random,
          providers.map((p) => p.name),
          now,
        );
        const decision = placeJob(demand, providers, now);
        const oracle = bruteForce(demand, providers);
        const where = `seed ${seed} job ${j}`;
        const feasibleProviders = [...new Set(oracle.map((c) => c.provider))].sort();
        const rejected = new Set(decision.rejections.map((r) => r.provider));
        const engineFeasible = providers
          .map((p) => p.name)
          .filter((n) => !rejected.has(n))
          .sort();
        if (JSON.stringify(feasibleProviders) !== JSON.stringify(engineFeasible)) {
          failures.push(`${where}: feasible providers ${engineFeasible.join(',')} but oracle says ${feasibleProviders.join(',')}`);
          continue;
        }
        if (decision.outcome === 'Unschedulable') continue;
        if (decision.ranking.length !== oracle.length) failures.push(`${where}: ${decision.ranking.length} candidates, oracle ${oracle.length}`);
        const cheapest = oracle.reduce((a, b) => (b.costNumerator < a.costNumerator ? b : a));
        const chosen = oracle.find(
          (c) => c.provider === decision.placement.provider && c.key.startsWith(`${decision.placement.product}|${decision.placement.resourceName}|`),
        );
        if (!chosen || chosen.costNumerator !== cheapest.costNumerator) {
          failures.push(`${where}: chose ${decision.placement.provider} ${decision.placement.product}, not a cheapest candidate`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('decides the same on a second run and whatever the order of providers, nodes and prices', () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      const { random, providers } = federation(seed);
      for (let j = 0; j < jobsPerSeed; j++) {
        const demand = syntheticDemand(
          random,
          providers.map((p) => p.name),
          now,
        );
        const first: PlacementDecision = placeJob(demand, providers, now);
        const again = placeJob(structuredClone(demand), structuredClone(providers), now);
        const reordered = placeJob(demand, shuffledCopy(random, providers), now);
        if (JSON.stringify(again, bigints) !== JSON.stringify(first, bigints)) failures.push(`seed ${seed} job ${j}: second run differs`);
        if (JSON.stringify(reordered, bigints) !== JSON.stringify(first, bigints)) failures.push(`seed ${seed} job ${j}: input order changes the decision`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('without explain: the placement the ranking puts first (the preferred provider included), or the same Unschedulable', () => {
    const failures: string[] = [];
    let placed = 0;
    let pruned = 0;
    for (const seed of seeds) {
      const { random, providers: drawn } = federation(seed);
      // Every other seed with one price and no preemptions anywhere: costs tie, the tie-breaks decide.
      const providers =
        seed % 2 === 0
          ? drawn.map((p) => ({
              ...p,
              prices: p.prices.map((x) => ({ ...x, pricePerGpuHour: 2_000_000n })),
              reputation: { ...p.reputation, preemptionsPerMillionGpuHours: 0 },
            }))
          : drawn;
      const index = indexProviders(providers);
      for (let j = 0; j < jobsPerSeed; j++) {
        const names = providers.map((p) => p.name);
        const base = syntheticDemand(random, names, now);
        // Half of them prefer a provider (SameProviderFirst): its best candidate wins whatever it costs.
        const demand = random() < 0.5 ? { ...base, preferredProvider: names[integer(random, 0, names.length - 1)] as string } : base;
        const ranked = placeJobIndexed(demand, index, now);
        const lean = placeJobIndexed(demand, index, now, { explain: false });
        const where = `seed ${seed} job ${j}`;
        if (ranked.outcome === 'Unschedulable') {
          if (JSON.stringify(lean, bigints) !== JSON.stringify(ranked, bigints)) failures.push(`${where}: Unschedulable explained differently`);
          continue;
        }
        placed += 1;
        if (ranked.ranking.length > 1) pruned += 1;
        if (lean.outcome !== 'Placed') failures.push(`${where}: ${lean.outcome} without explain`);
        else {
          if (JSON.stringify(lean.placement, bigints) !== JSON.stringify(ranked.placement, bigints)) failures.push(`${where}: a different placement`);
          if (lean.ranking.length !== 1 || lean.rejections.length !== 0) failures.push(`${where}: not lean`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(placed).toBeGreaterThan(seeds.length);
    expect(pruned).toBeGreaterThan(seeds.length); // decisions with runners-up the lean pass had to beat
  });

  it('placing jobs one after another with reservations never over-allocates cumulatively', () => {
    const failures: string[] = [];
    for (const seed of seeds.slice(0, 100)) {
      const { random, providers: original } = federation(seed);
      let providers = original;
      const used = new Map<string, { gpus: number; cpu: number; memory: number }>();
      for (let j = 0; j < 20; j++) {
        const demand = syntheticDemand(
          random,
          providers.map((p) => p.name),
          now,
        );
        const decision = placeJob(demand, providers, now);
        if (decision.outcome !== 'Placed') continue;
        const { placement } = decision;
        for (const node of placement.assignments) {
          const key = `${placement.provider}/${node}/${placement.resourceName}`;
          const total = used.get(key) ?? { gpus: 0, cpu: 0, memory: 0 };
          total.gpus += demand.gpusPerReplica;
          total.cpu += demand.cpuMillisPerReplica;
          total.memory += demand.memoryBytesPerReplica;
          used.set(key, total);
          const before = original.find((p) => p.name === placement.provider)?.nodes.find((n) => n.name === node);
          if (!before) continue;
          if (total.gpus > (before.free.extended[placement.resourceName] ?? 0)) failures.push(`seed ${seed}: ${key} GPUs over-allocated over time`);
          if (total.cpu > before.free.cpuMillis || total.memory > before.free.memoryBytes)
            failures.push(`seed ${seed}: ${key} CPU/memory over-allocated over time`);
        }
        providers = providers.map((p) => (p.name === placement.provider ? withReservation(p, placement, demand) : p));
      }
    }
    expect(failures).toEqual([]);
  });
});

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}
