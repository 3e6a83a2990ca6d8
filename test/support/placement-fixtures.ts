// Builders for placement tests (Kueue-style wrappers: small, fluent, defaults that fit), a seeded
// PRNG, and a generator of synthetic federations shared by the property tests and
// bench/placement.ts. Nothing in the operator imports this file.
// Lives in test/support/, the one home of test-support code: unit tests beside the operator's code,
// the integration suites under test/ and bench/ all import it from here, and shipped code
// (operator/, cli/, pulumi/) may not (eslint.config.js; operator/boundaries.test.ts).

import type { JobDemand, NodeSnapshot, ProductPrice, ProviderSnapshot, Taint, Toleration } from '../../operator/core/placement/types.ts';

export const H100 = 'NVIDIA-H100-80GB-HBM3';
export const H200 = 'NVIDIA-H200';
export const A100_80 = 'NVIDIA-A100-SXM4-80GB';
export const A100_40 = 'NVIDIA-A100-SXM4-40GB';
export const L40S = 'NVIDIA-L40S';
export const L4 = 'NVIDIA-L4';
export const T4 = 'Tesla-T4';

export const GiB = 1024 ** 3;

/** Token amount in base units from decimal text, exactly: usdc('2.50') → 2_500_000n. */
export function tokenAmount(text: string, decimals: number): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match || (match[2] ?? '').length > decimals) throw new Error(`bad token amount ${text}`);
  return BigInt((match[1] ?? '0') + (match[2] ?? '').padEnd(decimals, '0'));
}

export function usdc(text: string): bigint {
  return tokenAmount(text, 6);
}

interface ProductSpec {
  readonly memoryMiB: number;
  readonly compute: readonly [number, number];
}

/** GFD facts of the products used in tests. */
export const productSpecs: Readonly<Record<string, ProductSpec>> = {
  [H100]: { memoryMiB: 81559, compute: [9, 0] },
  [H200]: { memoryMiB: 143771, compute: [9, 0] },
  [A100_80]: { memoryMiB: 81920, compute: [8, 0] },
  [A100_40]: { memoryMiB: 40960, compute: [8, 0] },
  [L40S]: { memoryMiB: 46068, compute: [8, 9] },
  [L4]: { memoryMiB: 23034, compute: [8, 9] },
  [T4]: { memoryMiB: 15360, compute: [7, 5] },
};

/** A GPU node: `gpuNode('n1').product(H100, 8).freeGpus(4).build()`. */
export class NodeBuilder {
  private readonly node: {
    name: string;
    labels: Record<string, string>;
    taints: Taint[];
    unschedulable: boolean;
    ready: boolean;
    allocatable: { cpuMillis: number; memoryBytes: number; extended: Record<string, number> };
    free: { cpuMillis: number; memoryBytes: number; extended: Record<string, number> };
  };

  constructor(name: string) {
    this.node = {
      name,
      labels: { 'kubernetes.io/hostname': name },
      taints: [],
      unschedulable: false,
      ready: true,
      allocatable: { cpuMillis: 128_000, memoryBytes: 1024 * GiB, extended: {} },
      free: { cpuMillis: 128_000, memoryBytes: 1024 * GiB, extended: {} },
    };
  }

  /** Whole GPUs of a product, all free, labelled as GFD does. */
  product(product: string, gpus: number, memoryMiB?: number): this {
    const spec = productSpecs[product];
    this.node.labels['nvidia.com/gpu.product'] = product;
    this.node.labels['nvidia.com/gpu.count'] = String(gpus);
    const memory = memoryMiB ?? spec?.memoryMiB;
    if (memory !== undefined) this.node.labels['nvidia.com/gpu.memory'] = String(memory);
    if (spec) this.compute(spec.compute[0], spec.compute[1]);
    return this.resource('nvidia.com/gpu', gpus);
  }

  compute(major: number, minor: number): this {
    this.node.labels['nvidia.com/gpu.compute.major'] = String(major);
    this.node.labels['nvidia.com/gpu.compute.minor'] = String(minor);
    return this;
  }

  /** An extended resource, allocatable and free. */
  resource(name: string, amount: number, free = amount): this {
    this.node.allocatable.extended[name] = amount;
    this.node.free.extended[name] = free;
    return this;
  }

  freeGpus(free: number): this {
    this.node.free.extended['nvidia.com/gpu'] = free;
    return this;
  }

  /** Time-slicing: GFD's "-SHARED" product unless renamed to nvidia.com/gpu.shared. */
  timeSliced(product: string, gpus: number, replicas: number, options: { renamed?: boolean } = {}): this {
    this.product(product, gpus);
    if (!options.renamed) this.node.labels['nvidia.com/gpu.product'] = `${product}-SHARED`;
    this.node.labels['nvidia.com/gpu.replicas'] = String(replicas);
    delete this.node.allocatable.extended['nvidia.com/gpu'];
    delete this.node.free.extended['nvidia.com/gpu'];
    return this.resource(options.renamed ? 'nvidia.com/gpu.shared' : 'nvidia.com/gpu', gpus * replicas);
  }

  /** MIG mixed strategy: `nvidia.com/mig-<profile>` devices with their own labels. */
  migMixed(parent: string, profile: string, devices: number, memoryMiB: number): this {
    const prefix = `nvidia.com/mig-${profile}`;
    this.node.labels['nvidia.com/mig.strategy'] = 'mixed';
    this.node.labels[`${prefix}.product`] = `${parent}-MIG-${profile}`;
    this.node.labels[`${prefix}.count`] = String(devices);
    this.node.labels[`${prefix}.memory`] = String(memoryMiB);
    return this.resource(prefix, devices);
  }

  /** MIG single strategy: nvidia.com/gpu counts slices and the product label names the profile. */
  migSingle(parent: string, profile: string, devices: number, memoryMiB: number): this {
    this.product(`${parent}-MIG-${profile}`, devices, memoryMiB);
    this.node.labels['nvidia.com/mig.strategy'] = 'single';
    const spec = productSpecs[parent];
    if (spec) this.compute(spec.compute[0], spec.compute[1]);
    return this;
  }

  label(key: string, value: string): this {
    this.node.labels[key] = value;
    return this;
  }

  withoutLabel(key: string): this {
    delete this.node.labels[key];
    return this;
  }

  taint(key: string, value: string | undefined, effect: Taint['effect']): this {
    this.node.taints.push(value === undefined ? { key, effect } : { key, value, effect });
    return this;
  }

  cordoned(): this {
    this.node.unschedulable = true;
    return this;
  }

  notReady(): this {
    this.node.ready = false;
    return this;
  }

  cpu(allocatableMillis: number, freeMillis = allocatableMillis): this {
    this.node.allocatable.cpuMillis = allocatableMillis;
    this.node.free.cpuMillis = freeMillis;
    return this;
  }

  memory(allocatableBytes: number, freeBytes = allocatableBytes): this {
    this.node.allocatable.memoryBytes = allocatableBytes;
    this.node.free.memoryBytes = freeBytes;
    return this;
  }

  build(): NodeSnapshot {
    return structuredClone(this.node);
  }
}

export function gpuNode(name: string): NodeBuilder {
  return new NodeBuilder(name);
}

/** A provider: `gpuProvider('provider-a').price(H100, '2.50').nodes(…).build()`. */
export class ProviderBuilder {
  private readonly provider: {
    name: string;
    region: string;
    ready: boolean;
    notReadyReason?: string;
    cordoned: boolean;
    gpuQuotaRemaining?: number;
    prices: ProductPrice[];
    reputation: { preemptionsPerMillionGpuHours: number; completionRatePpm: number };
    nodes: NodeSnapshot[];
  };

  constructor(name: string) {
    this.provider = {
      name,
      region: 'eu-west',
      ready: true,
      cordoned: false,
      prices: [],
      reputation: { preemptionsPerMillionGpuHours: 0, completionRatePpm: 1_000_000 },
      nodes: [],
    };
  }

  region(region: string): this {
    this.provider.region = region;
    return this;
  }

  /** Price in USDC per GPU-hour, as decimal text. */
  price(product: string, perGpuHour: string): this {
    this.provider.prices.push({ product, pricePerGpuHour: usdc(perGpuHour) });
    return this;
  }

  /** Preemption hazard in preemptions per GPU-hour, as decimal text ("0.0125"). */
  hazard(perGpuHour: string): this {
    this.provider.reputation.preemptionsPerMillionGpuHours = Number(tokenAmount(perGpuHour, 6));
    return this;
  }

  completionRate(share: string): this {
    this.provider.reputation.completionRatePpm = Number(tokenAmount(share, 6));
    return this;
  }

  quota(gpus: number): this {
    this.provider.gpuQuotaRemaining = gpus;
    return this;
  }

  notReady(reason?: string): this {
    this.provider.ready = false;
    if (reason !== undefined) this.provider.notReadyReason = reason;
    return this;
  }

  cordoned(): this {
    this.provider.cordoned = true;
    return this;
  }

  nodes(...nodes: (NodeBuilder | NodeSnapshot)[]): this {
    for (const node of nodes) this.provider.nodes.push(node instanceof NodeBuilder ? node.build() : node);
    return this;
  }

  build(): ProviderSnapshot {
    return structuredClone(this.provider);
  }
}

export function gpuProvider(name: string): ProviderBuilder {
  return new ProviderBuilder(name);
}

/** A job: `aJob().replicas(2).gpus(8).products(H100).maxPrice('2.50').build()`. */
export class JobBuilder {
  private readonly demand: {
    -readonly [K in keyof JobDemand]: JobDemand[K];
  };

  constructor() {
    this.demand = {
      replicas: 1,
      gpusPerReplica: 1,
      cpuMillisPerReplica: 0,
      memoryBytesPerReplica: 0,
      products: [],
      priceDecimals: 6,
      remainingGpuSeconds: 10 * 3600,
      checkpointIntervalSeconds: 600,
    };
  }

  replicas(n: number): this {
    this.demand.replicas = n;
    return this;
  }
  gpus(n: number): this {
    this.demand.gpusPerReplica = n;
    return this;
  }
  cpu(millis: number): this {
    this.demand.cpuMillisPerReplica = millis;
    return this;
  }
  memory(bytes: number): this {
    this.demand.memoryBytesPerReplica = bytes;
    return this;
  }
  products(...products: string[]): this {
    this.demand.products = products;
    return this;
  }
  minGpuMemoryMiB(mib: number): this {
    this.demand.minGpuMemoryMiB = mib;
    return this;
  }
  minComputeCapability(major: number, minor: number): this {
    this.demand.minComputeCapability = { major, minor };
    return this;
  }
  maxPrice(perGpuHour: string): this {
    this.demand.maxPricePerGpuHour = usdc(perGpuHour);
    return this;
  }
  allowed(...providers: string[]): this {
    this.demand.allowedProviders = providers;
    return this;
  }
  denied(...providers: string[]): this {
    this.demand.deniedProviders = providers;
    return this;
  }
  regions(...regions: string[]): this {
    this.demand.regions = regions;
    return this;
  }
  minReputation(share: string): this {
    this.demand.minCompletionRatePpm = Number(tokenAmount(share, 6));
    return this;
  }
  remainingGpuHours(hours: number): this {
    this.demand.remainingGpuSeconds = hours * 3600;
    return this;
  }
  checkpointEvery(seconds: number | undefined): this {
    if (seconds === undefined) delete this.demand.checkpointIntervalSeconds;
    else this.demand.checkpointIntervalSeconds = seconds;
    return this;
  }
  coolingDown(provider: string, until: number): this {
    this.demand.coolDowns = [...(this.demand.coolDowns ?? []), { provider, until }];
    return this;
  }
  tolerates(...tolerations: Toleration[]): this {
    this.demand.extraTolerations = tolerations;
    return this;
  }

  build(): JobDemand {
    return structuredClone(this.demand);
  }
}

export function aJob(): JobBuilder {
  return new JobBuilder();
}

// ─── Seeded randomness and synthetic federations ────────────────────────────────────────────────

/** mulberry32: a tiny, fast, seeded PRNG returning floats in [0, 1). Same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

export function integer(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** Fisher–Yates, in place. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

interface CatalogEntry {
  readonly product: string;
  readonly gpusPerNode: readonly number[];
  /** Price range in USDC cents per GPU-hour. */
  readonly cents: readonly [number, number];
}

const catalog: readonly CatalogEntry[] = [
  { product: H100, gpusPerNode: [8], cents: [200, 350] },
  { product: H200, gpusPerNode: [8], cents: [300, 450] },
  { product: A100_80, gpusPerNode: [4, 8], cents: [120, 220] },
  { product: A100_40, gpusPerNode: [4, 8], cents: [90, 160] },
  { product: L40S, gpusPerNode: [2, 4, 8], cents: [70, 120] },
  { product: L4, gpusPerNode: [1, 2, 4, 8], cents: [30, 60] },
  { product: T4, gpusPerNode: [1, 4], cents: [20, 40] },
];

export const syntheticRegions: readonly string[] = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south'];

export interface SyntheticFederationOptions {
  readonly providers: number;
  readonly nodesPerProvider: number;
  /** Also generate time-sliced, MIG, tainted, cordoned and not-ready nodes and odd providers. */
  readonly edgeCases: boolean;
}

/** Per-node facts shared between nodes (labels, taints) so a million nodes stay small in memory. */
const sharedLabels = new Map<string, Readonly<Record<string, string>>>();

function labelsFor(key: string, make: () => Record<string, string>): Readonly<Record<string, string>> {
  let labels = sharedLabels.get(key);
  if (!labels) {
    labels = make();
    sharedLabels.set(key, labels);
  }
  return labels;
}

const gpuTaint: readonly Taint[] = [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }];
const oddTaints: readonly (readonly Taint[])[] = [
  [{ key: 'dedicated', value: 'team-a', effect: 'NoSchedule' }],
  [{ key: 'flotilla.dev/reclaim', value: '2025-01-01T00:00:00Z', effect: 'NoSchedule' }],
  [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }],
  [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }],
];

function syntheticNode(random: Random, name: string, products: readonly CatalogEntry[], edgeCases: boolean): NodeSnapshot {
  const entry = pick(random, products);
  const gpus = pick(random, entry.gpusPerNode);
  const spec = productSpecs[entry.product] ?? { memoryMiB: 16384, compute: [8, 0] as const };
  const cpuPerGpu = 16_000;
  const memoryPerGpu = 128 * GiB;
  const roll = edgeCases ? random() : 1;
  let resource = 'nvidia.com/gpu';
  let devices = gpus;
  let labels: Readonly<Record<string, string>>;
  if (roll < 0.06 && entry.product === L4) {
    // Time-sliced L4s, half of them renamed to nvidia.com/gpu.shared.
    const renamed = random() < 0.5;
    resource = renamed ? 'nvidia.com/gpu.shared' : 'nvidia.com/gpu';
    devices = gpus * 4;
    labels = labelsFor(`${entry.product}/${gpus}/shared/${renamed}`, () => ({
      'nvidia.com/gpu.product': renamed ? entry.product : `${entry.product}-SHARED`,
      'nvidia.com/gpu.replicas': '4',
      'nvidia.com/gpu.count': String(gpus),
      'nvidia.com/gpu.memory': String(spec.memoryMiB),
      'nvidia.com/gpu.compute.major': String(spec.compute[0]),
      'nvidia.com/gpu.compute.minor': String(spec.compute[1]),
    }));
  } else if (roll < 0.06 && entry.product === A100_40) {
    // MIG mixed strategy: 2 × 3g.20gb per GPU.
    resource = 'nvidia.com/mig-3g.20gb';
    devices = gpus * 2;
    labels = labelsFor(`${entry.product}/${gpus}/mig`, () => ({
      'nvidia.com/mig.strategy': 'mixed',
      'nvidia.com/mig-3g.20gb.product': `${entry.product}-MIG-3g.20gb`,
      'nvidia.com/mig-3g.20gb.count': String(devices),
      'nvidia.com/mig-3g.20gb.memory': '19968',
      'nvidia.com/gpu.compute.major': String(spec.compute[0]),
      'nvidia.com/gpu.compute.minor': String(spec.compute[1]),
    }));
  } else {
    labels = labelsFor(`${entry.product}/${gpus}`, () => ({
      'nvidia.com/gpu.product': entry.product,
      'nvidia.com/gpu.count': String(gpus),
      'nvidia.com/gpu.memory': String(spec.memoryMiB),
      'nvidia.com/gpu.compute.major': String(spec.compute[0]),
      'nvidia.com/gpu.compute.minor': String(spec.compute[1]),
    }));
  }
  // Partial occupancy: a third idle, a fifth full, the rest somewhere between.
  const occupancy = random();
  const usedDevices = occupancy < 0.33 ? 0 : occupancy < 0.53 ? devices : integer(random, 0, devices);
  const usedShare = usedDevices / devices;
  const cpu = gpus * cpuPerGpu;
  const memory = gpus * memoryPerGpu;
  // Pods of other tenants sometimes take more CPU than their GPU share.
  const cpuUsed = Math.min(cpu, Math.round(cpu * usedShare) + (random() < 0.1 ? integer(random, 0, cpu / 2) : 0));
  const memoryUsed = Math.min(memory, Math.round((memory * usedShare) / GiB) * GiB);
  const taintRoll = edgeCases ? random() : 1;
  return {
    name,
    labels,
    taints: taintRoll < 0.05 ? pick(random, oddTaints) : gpuTaint,
    unschedulable: edgeCases && random() < 0.03,
    ready: !(edgeCases && random() < 0.02),
    allocatable: { cpuMillis: cpu, memoryBytes: memory, extended: { [resource]: devices } },
    free: { cpuMillis: cpu - cpuUsed, memoryBytes: memory - memoryUsed, extended: { [resource]: devices - usedDevices } },
  };
}

/** A seeded federation: providers named provider-000…, each with a few products and regions. */
export function syntheticFederation(random: Random, options: SyntheticFederationOptions): ProviderSnapshot[] {
  const providers: ProviderSnapshot[] = [];
  const digits = String(Math.max(options.providers - 1, 1)).length;
  for (let p = 0; p < options.providers; p++) {
    const name = `provider-${String(p).padStart(Math.max(3, digits), '0')}`;
    const products = shuffle(random, [...catalog]).slice(0, integer(random, 1, 4));
    const nodes: NodeSnapshot[] = [];
    for (let n = 0; n < options.nodesPerProvider; n++) {
      nodes.push(syntheticNode(random, `${name}-node-${n}`, products, options.edgeCases));
    }
    const prices: ProductPrice[] = [];
    for (const entry of products) {
      const cents = integer(random, entry.cents[0], entry.cents[1]);
      const perGpuHour = BigInt(cents) * 10_000n;
      if (options.edgeCases && random() < 0.05) continue; // not for lending
      prices.push({ product: entry.product, pricePerGpuHour: perGpuHour });
      if (entry.product === L4) prices.push({ product: `${L4}-SHARED`, pricePerGpuHour: perGpuHour / 3n });
      if (entry.product === A100_40) prices.push({ product: `${A100_40}-MIG-3g.20gb`, pricePerGpuHour: perGpuHour / 2n });
    }
    const edge = options.edgeCases ? random() : 1;
    providers.push({
      name,
      region: pick(random, syntheticRegions),
      ready: edge >= 0.05,
      ...(edge < 0.05 ? { notReadyReason: 'Unreachable' } : {}),
      cordoned: edge >= 0.05 && edge < 0.08,
      ...(options.edgeCases && random() < 0.2 ? { gpuQuotaRemaining: integer(random, 0, 64) } : {}),
      prices,
      reputation: {
        // Most providers reliable, some flaky: up to 0.05 preemptions per GPU-hour.
        preemptionsPerMillionGpuHours: random() < 0.7 ? integer(random, 0, 2_000) : integer(random, 2_000, 50_000),
        completionRatePpm: integer(random, 700_000, 1_000_000),
      },
      nodes,
    });
  }
  return providers;
}

/** A seeded pending job against a federation of the given provider names. */
export function syntheticDemand(random: Random, providerNames: readonly string[], now: number): JobDemand {
  const gpus = pick(random, [1, 1, 1, 2, 4, 8, 8]);
  const replicas = gpus === 8 ? pick(random, [1, 2, 2, 4, 8]) : pick(random, [1, 1, 2, 4]);
  const roll = random();
  const products =
    roll < 0.15
      ? []
      : roll < 0.2
        ? [pick(random, [`${L4}-SHARED`, `${A100_40}-MIG-3g.20gb`])]
        : shuffle(
            random,
            catalog.map((entry) => entry.product),
          ).slice(0, integer(random, 1, 3));
  const demand: {
    -readonly [K in keyof JobDemand]: JobDemand[K];
  } = {
    replicas,
    gpusPerReplica: gpus,
    cpuMillisPerReplica: gpus * integer(random, 2, 16) * 1000,
    memoryBytesPerReplica: gpus * integer(random, 16, 128) * GiB,
    products,
    priceDecimals: 6,
    remainingGpuSeconds: replicas * gpus * integer(random, 1, 200) * 3600,
  };
  if (random() < 0.8) demand.checkpointIntervalSeconds = pick(random, [60, 300, 600, 1800, 3600, 4 * 3600]);
  if (random() < 0.6) demand.maxPricePerGpuHour = BigInt(integer(random, 30, 400)) * 10_000n;
  if (random() < 0.2) demand.minGpuMemoryMiB = pick(random, [16384, 40960, 81920]);
  if (random() < 0.1)
    demand.minComputeCapability = pick(random, [
      { major: 8, minor: 0 },
      { major: 9, minor: 0 },
    ]);
  if (random() < 0.1) demand.regions = shuffle(random, [...syntheticRegions]).slice(0, 2);
  if (random() < 0.1) demand.minCompletionRatePpm = integer(random, 700_000, 950_000);
  if (random() < 0.05 && providerNames.length > 0) demand.allowedProviders = [pick(random, providerNames), pick(random, providerNames)];
  if (random() < 0.1 && providerNames.length > 0) demand.deniedProviders = [pick(random, providerNames)];
  if (random() < 0.1 && providerNames.length > 0) {
    demand.coolDowns = [{ provider: pick(random, providerNames), until: now + integer(random, -600_000, 600_000) }];
  }
  if (random() < 0.05) demand.extraTolerations = [{ key: 'dedicated', operator: 'Equal', value: 'team-a', effect: 'NoSchedule' }];
  return demand;
}
