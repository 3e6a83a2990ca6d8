// From a provider's nodes and pods (as its informer caches hold them) to the two views Flotilla
// needs: NodeSnapshot[] for the placement engine, and the GPUProvider status inventory for humans.
// Pure: the inputs are plain objects shaped like core/v1 Node and Pod (client-node's V1Node and V1Pod
// satisfy them), quantities are parsed exactly, nothing is read from the clock or the network.
//
//   nodes ─┐
//          ├─ nodeSnapshots ── NodeSnapshot[] (free = allocatable − requests of non-terminated pods)
//   pods ──┘        │
//                   └──────── gpuInventory ── status.inventory[] + allocatableGpus/freeGpus
//
// What "free" can see: Flotilla's credential in a provider lists only the pods in its own namespace
// (and only those it labelled), so free subtracts just those pods. The provider's own workloads in
// other namespaces are invisible; its kube-scheduler has the final word (docs/providers.md).

import type { GPUInventoryEntry } from '../api/types.ts';
import { gpuOffersOfNode } from './placement/gfd.ts';
import { DEFAULT_TOLERATIONS, untoleratedTaints } from './placement/taints.ts';
import type { NodeResources, NodeSelectorRequirement, NodeSnapshot, Taint } from './placement/types.ts';
import { parseQuantity, quantityMilliValue, quantityValue } from './quantity.ts';

/** A resource list as on the wire: name → quantity text. */
export type ResourceList = Readonly<Record<string, string>>;

/** The fields of a core/v1 Node this module reads. */
export interface NodeInput {
  readonly metadata?: { readonly name?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: {
    readonly unschedulable?: boolean;
    readonly taints?: readonly { readonly key: string; readonly value?: string; readonly effect: string }[];
  };
  readonly status?: {
    readonly allocatable?: ResourceList;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
  };
}

interface ResourceRequirementsInput {
  readonly requests?: ResourceList;
  readonly limits?: ResourceList;
}

interface ContainerInput {
  readonly resources?: ResourceRequirementsInput;
}

interface InitContainerInput extends ContainerInput {
  /** `Always` makes it a sidecar that runs beside the app containers. */
  readonly restartPolicy?: string;
}

/** The fields of a core/v1 Pod this module reads. */
export interface PodInput {
  readonly spec?: {
    readonly nodeName?: string;
    readonly containers?: readonly ContainerInput[];
    readonly initContainers?: readonly InitContainerInput[];
    readonly overhead?: ResourceList;
    /** Pod-level resources (PodLevelResources): when set they replace the containers' cpu and memory. */
    readonly resources?: ResourceRequirementsInput;
  };
  readonly status?: { readonly phase?: string };
}

/** Amounts in canonical integer units: cpu in millicores, every other resource in whole units. */
type Amounts = Map<string, bigint>;

const CPU = 'cpu';
const MEMORY = 'memory';

// The GPU-like devices the NVIDIA device plugin advertises: whole GPUs, time slices, MIG slices.
const gpuResourcePattern = /^nvidia\.com\/(?:gpu|mig-[^/]+?)(?:\.shared)?$/;

/** Is this resource name a GPU device (`nvidia.com/gpu`, `nvidia.com/gpu.shared`, `nvidia.com/mig-…`)? */
export function isGpuResource(name: string): boolean {
  return gpuResourcePattern.test(name);
}

/** Extended resources are domain-prefixed outside kubernetes.io (nvidia.com/gpu, example.com/fpga). */
function isExtendedResource(name: string): boolean {
  return name.includes('/') && !name.startsWith('kubernetes.io/');
}

/** Succeeded and Failed pods hold no resources; every other phase (and none yet) does. */
export function isPodTerminated(pod: PodInput): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function amount(name: string, text: string): bigint | undefined {
  try {
    const q = parseQuantity(text);
    return name === CPU ? quantityMilliValue(q) : quantityValue(q);
  } catch {
    // The apiserver validates quantities; one that does not parse counts as absent, never crashes.
    return undefined;
  }
}

function amountsOf(list: ResourceList | undefined, into: Amounts = new Map()): Amounts {
  for (const [name, text] of Object.entries(list ?? {})) {
    const v = amount(name, text);
    if (v !== undefined) into.set(name, v);
  }
  return into;
}

/** A container's requests; a resource with only a limit requests the limit (apiserver defaulting). */
function containerRequests(resources: ResourceRequirementsInput | undefined): Amounts {
  const out = amountsOf(resources?.limits);
  return amountsOf(resources?.requests, out);
}

function addInto(target: Amounts, add: ReadonlyMap<string, bigint>): void {
  for (const [k, v] of add) target.set(k, (target.get(k) ?? 0n) + v);
}

function maxInto(target: Amounts, other: Amounts): void {
  for (const [k, v] of other) if (v > (target.get(k) ?? 0n)) target.set(k, v);
}

/**
 * What a pod requests of a node, as kube-scheduler counts it (component-helpers PodRequests): the
 * app containers plus sidecars, or the largest init step if that is more, pod-level cpu/memory when
 * set, plus the runtime-class overhead.
 */
export function podRequests(pod: PodInput): ReadonlyMap<string, bigint> {
  const spec = pod.spec ?? {};
  const total: Amounts = new Map();
  for (const c of spec.containers ?? []) addInto(total, containerRequests(c.resources));
  const sidecars: Amounts = new Map();
  const initPeak: Amounts = new Map();
  for (const c of spec.initContainers ?? []) {
    const own = containerRequests(c.resources);
    if (c.restartPolicy === 'Always') {
      addInto(total, own);
      addInto(sidecars, own);
      maxInto(initPeak, sidecars);
    } else {
      // A regular init container runs beside the sidecars started before it.
      const step = new Map(own);
      addInto(step, sidecars);
      maxInto(initPeak, step);
    }
  }
  maxInto(total, initPeak);
  const podLevel = amountsOf(spec.resources?.requests, amountsOf(spec.resources?.limits));
  for (const name of [CPU, MEMORY]) {
    const v = podLevel.get(name);
    if (v !== undefined) total.set(name, v);
  }
  addInto(total, amountsOf(spec.overhead));
  return total;
}

/** GPU devices (of every GPU resource) the pods request together; terminated pods excluded. */
export function gpuRequestsOfPods(pods: readonly PodInput[]): number {
  let sum = 0n;
  for (const pod of pods) {
    // A malformed pod (see podProblem) counts nowhere, as in nodeSnapshots.
    if (isPodTerminated(pod) || podProblem(pod)) continue;
    for (const [name, v] of podRequests(pod)) if (isGpuResource(name)) sum += v;
  }
  return toSafeInt(sum);
}

/** GPU devices of one resource that pending pods with the same node requirements request. */
export interface PendingGpus {
  readonly resource: string;
  readonly devices: number;
  /** Where those pods can be bound: their node selector and node affinity (In and Gt terms). */
  readonly requirements: readonly NodeSelectorRequirement[];
}

/**
 * GPU devices that live pods not yet bound to a node request, by resource and by the nodes they may
 * be bound to: capacity the provider's scheduler is about to hand out, which a node snapshot (bound
 * pods only) still shows as free — on the nodes those pods can use, not on any node of the resource.
 */
export function pendingGpuRequests(pods: readonly PodInput[]): PendingGpus[] {
  const pending = new Map<string, { resource: string; devices: bigint; requirements: NodeSelectorRequirement[] }>();
  for (const pod of pods) {
    if (pod.spec?.nodeName || isPodTerminated(pod) || podProblem(pod) || (pod as { metadata?: { deletionTimestamp?: unknown } }).metadata?.deletionTimestamp)
      continue;
    const requirements = nodeRequirementsOf(pod);
    for (const [name, v] of podRequests(pod)) {
      if (!isGpuResource(name)) continue;
      const key = JSON.stringify([name, requirements]);
      const entry = pending.get(key) ?? { resource: name, devices: 0n, requirements };
      entry.devices += v;
      pending.set(key, entry);
    }
  }
  return [...pending.values()].map((p) => ({ resource: p.resource, devices: toSafeInt(p.devices), requirements: p.requirements }));
}

/** An expression listing more values than this is left out (a provider writes pods; ours list one product). */
const MAX_REQUIREMENT_VALUES = 64;

/**
 * The node requirements a pod states that a node snapshot can check: its nodeSelector (key In
 * [value]) and, when its required node affinity has exactly one term, that term's In and Gt
 * expressions. Anything else (several terms, other operators, malformed or over-long values — a provider writes
 * these objects) is left out: the pod then counts against more nodes, never against fewer.
 */
function nodeRequirementsOf(pod: PodInput): NodeSelectorRequirement[] {
  const spec = pod.spec as {
    nodeSelector?: unknown;
    affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: unknown } } };
  };
  const out: NodeSelectorRequirement[] = [];
  const selector = spec?.nodeSelector;
  if (selector && typeof selector === 'object' && !Array.isArray(selector)) {
    for (const [key, value] of Object.entries(selector)) if (typeof value === 'string') out.push({ key, operator: 'In', values: [value] });
  }
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const term: unknown = Array.isArray(terms) && terms.length === 1 ? terms[0] : undefined;
  const expressions = term && typeof term === 'object' ? (term as { matchExpressions?: unknown }).matchExpressions : undefined;
  for (const e of Array.isArray(expressions) ? expressions : []) {
    const { key, operator, values } = (e ?? {}) as { key?: unknown; operator?: unknown; values?: unknown };
    if (
      typeof key !== 'string' ||
      (operator !== 'In' && operator !== 'Gt') ||
      !Array.isArray(values) ||
      values.length > MAX_REQUIREMENT_VALUES ||
      !values.every((v) => typeof v === 'string')
    )
      continue;
    out.push({ key, operator, values: [...(values as string[])] });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function toSafeInt(v: bigint): number {
  if (v < 0n) return 0;
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

function nodeResources(amounts: ReadonlyMap<string, bigint>): NodeResources {
  const extended: Record<string, number> = {};
  for (const [name, v] of [...amounts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (isExtendedResource(name)) extended[name] = toSafeInt(v);
  }
  return { cpuMillis: toSafeInt(amounts.get(CPU) ?? 0n), memoryBytes: toSafeInt(amounts.get(MEMORY) ?? 0n), extended };
}

const taintEffects: ReadonlySet<string> = new Set(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

function taintsOf(node: NodeInput): Taint[] {
  return (node.spec?.taints ?? [])
    .filter((t) => taintEffects.has(t.effect))
    .map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect as Taint['effect'] }));
}

/** The node's Ready condition is True (a node without conditions has not reported yet: not Ready). */
export function isNodeReady(node: NodeInput): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

// ── malformed input ────────────────────────────────────────────────────────────────────────────
// The objects come from a provider's API server, which Flotilla does not trust, and watch events
// arrive as plain JSON that nothing has checked: `spec.taints` may be a string, a label a number.
// One such object must not throw out of nodeSnapshots (that stopped placement for every provider):
// it is skipped, and named, so the GPUProvider can say which and why.

/** An object left out of the snapshots, and why. */
export interface MalformedObject {
  readonly kind: 'node' | 'pod';
  readonly name: string;
  readonly problem: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (v: unknown) => v === undefined || v === null;

function stringMapProblem(v: unknown, field: string): string | undefined {
  if (optional(v)) return undefined;
  if (!isRecord(v)) return `${field} is not a map`;
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') return `${field}[${JSON.stringify(k)}] is not a string`;
  return undefined;
}

function listProblem(v: unknown, field: string, item: (x: unknown, at: string) => string | undefined): string | undefined {
  if (optional(v)) return undefined;
  if (!Array.isArray(v)) return `${field} is not a list`;
  for (let i = 0; i < v.length; i += 1) {
    const p = item(v[i], `${field}[${i}]`);
    if (p) return p;
  }
  return undefined;
}

function fieldsProblem(v: unknown, at: string, fields: Readonly<Record<string, 'string' | 'boolean' | 'string?'>>): string | undefined {
  if (!isRecord(v)) return `${at} is not an object`;
  for (const [k, type] of Object.entries(fields)) {
    const x = v[k];
    if (type === 'string?' ? !optional(x) && typeof x !== 'string' : typeof x !== type) return `${at}.${k} is not a ${type.replace('?', '')}`;
  }
  return undefined;
}

function objectProblem(v: unknown, at: string, check: (o: Record<string, unknown>) => string | undefined): string | undefined {
  if (optional(v)) return undefined;
  return isRecord(v) ? check(v) : `${at} is not an object`;
}

/** What makes a node unreadable, or undefined when it has the shape NodeInput describes. */
export function nodeProblem(node: unknown): string | undefined {
  if (!isRecord(node)) return 'it is not an object';
  return (
    objectProblem(node.metadata, 'metadata', (m) =>
      typeof m.name !== 'string' ? 'metadata.name is not a string' : stringMapProblem(m.labels, 'metadata.labels'),
    ) ??
    objectProblem(node.spec, 'spec', (sp) =>
      !optional(sp.unschedulable) && typeof sp.unschedulable !== 'boolean'
        ? 'spec.unschedulable is not a boolean'
        : listProblem(sp.taints, 'spec.taints', (t, at) => fieldsProblem(t, at, { key: 'string', value: 'string?', effect: 'string' })),
    ) ??
    objectProblem(
      node.status,
      'status',
      (st) =>
        stringMapProblem(st.allocatable, 'status.allocatable') ??
        listProblem(st.conditions, 'status.conditions', (c, at) => fieldsProblem(c, at, { type: 'string', status: 'string' })),
    )
  );
}

function resourcesProblem(v: unknown, at: string): string | undefined {
  return objectProblem(v, at, (r) => stringMapProblem(r.requests, `${at}.requests`) ?? stringMapProblem(r.limits, `${at}.limits`));
}

function containersProblem(v: unknown, field: string): string | undefined {
  return listProblem(v, field, (c, at) =>
    isRecord(c)
      ? (resourcesProblem(c.resources, `${at}.resources`) ??
        (!optional(c.restartPolicy) && typeof c.restartPolicy !== 'string' ? `${at}.restartPolicy is not a string` : undefined))
      : `${at} is not an object`,
  );
}

/** What makes a pod unreadable, or undefined when it has the shape PodInput describes. */
export function podProblem(pod: unknown): string | undefined {
  if (!isRecord(pod)) return 'it is not an object';
  return (
    objectProblem(
      pod.spec,
      'spec',
      (sp) =>
        (!optional(sp.nodeName) && typeof sp.nodeName !== 'string' ? 'spec.nodeName is not a string' : undefined) ??
        containersProblem(sp.containers, 'spec.containers') ??
        containersProblem(sp.initContainers, 'spec.initContainers') ??
        stringMapProblem(sp.overhead, 'spec.overhead') ??
        resourcesProblem(sp.resources, 'spec.resources'),
    ) ?? objectProblem(pod.status, 'status', (st) => (!optional(st.phase) && typeof st.phase !== 'string' ? 'status.phase is not a string' : undefined))
  );
}

const nameOf = (obj: unknown): string => {
  const name = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata.name : undefined;
  return typeof name === 'string' ? name : '(unnamed)';
};

export interface CheckedSnapshots {
  readonly nodes: NodeSnapshot[];
  /** Nodes and pods left out, ordered by kind and name. */
  readonly malformed: MalformedObject[];
}

/** nodeSnapshots of the well-formed nodes and pods, and the malformed ones named. */
export function checkedNodeSnapshots(nodes: readonly unknown[], pods: readonly unknown[]): CheckedSnapshots {
  return new NodeSnapshotMemo().check(nodes, pods);
}

/**
 * One NodeSnapshot per named node, ordered by name. Free is allocatable minus the requests of the
 * non-terminated pods bound to the node (pods not yet bound count nowhere), never below zero.
 * Malformed nodes and pods are left out (checkedNodeSnapshots names them).
 */
export function nodeSnapshots(nodes: readonly NodeInput[], pods: readonly PodInput[]): NodeSnapshot[] {
  return checkedNodeSnapshots(nodes, pods).nodes;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** One node's snapshot, given what the pods bound to it request. */
function snapshotOfNode(node: NodeInput, name: string, used: ReadonlyMap<string, bigint>): NodeSnapshot {
  const allocatable = amountsOf(node.status?.allocatable);
  const free: Amounts = new Map();
  for (const [k, v] of allocatable) free.set(k, v - (used.get(k) ?? 0n));
  return {
    name,
    labels: { ...(node.metadata?.labels ?? {}) },
    taints: taintsOf(node),
    unschedulable: node.spec?.unschedulable === true,
    ready: isNodeReady(node),
    allocatable: nodeResources(allocatable),
    free: nodeResources(free),
  };
}

/**
 * checkedNodeSnapshots for one provider's informer caches, asked again after every change there. An
 * informer replaces an object whenever it changes, so an object seen before is unchanged: each pod is
 * checked and its requests read once per object, and a node's snapshot is kept — the same object —
 * while neither the node nor any pod bound to it changed. The same answer as checkedNodeSnapshots, at
 * the cost of what changed (a pod bound at a 1,000-node provider re-reads one node, not 1,000), and
 * unchanged nodes stay the same objects for the scheduler's comparisons downstream.
 */
export class NodeSnapshotMemo {
  private readonly podFacts = new WeakMap<object, { readonly problem?: string; readonly requests?: ReadonlyMap<string, bigint> }>();
  private readonly nodeProblems = new WeakMap<object, { readonly problem?: string }>();
  private nodes = new Map<string, { readonly node: unknown; readonly pods: readonly PodInput[]; readonly snapshot: NodeSnapshot }>();

  check(nodes: readonly unknown[], pods: readonly unknown[]): CheckedSnapshots {
    const malformed: MalformedObject[] = [];
    const podsByNode = new Map<string, PodInput[]>();
    for (const pod of pods) {
      const facts = this.podFactsOf(pod);
      if (facts.problem !== undefined) {
        malformed.push({ kind: 'pod', name: nameOf(pod), problem: facts.problem });
        continue;
      }
      const input = pod as PodInput;
      const nodeName = input.spec?.nodeName;
      if (!nodeName || isPodTerminated(input)) continue;
      const list = podsByNode.get(nodeName);
      if (list) list.push(input);
      else podsByNode.set(nodeName, [input]);
    }
    const next = new Map<string, { readonly node: unknown; readonly pods: readonly PodInput[]; readonly snapshot: NodeSnapshot }>();
    const out: NodeSnapshot[] = [];
    for (const node of nodes) {
      const problem = this.nodeProblemOf(node);
      if (problem !== undefined) {
        malformed.push({ kind: 'node', name: nameOf(node), problem });
        continue;
      }
      const input = node as NodeInput;
      const name = input.metadata?.name;
      if (!name) continue;
      const bound = podsByNode.get(name) ?? [];
      const kept = this.nodes.get(name);
      const same = kept !== undefined && kept.node === node && kept.pods.length === bound.length && kept.pods.every((p, i) => p === bound[i]);
      const snapshot = same ? kept.snapshot : snapshotOfNode(input, name, this.requestedBy(bound));
      next.set(name, { node, pods: bound, snapshot });
      out.push(snapshot);
    }
    this.nodes = next;
    malformed.sort((a, b) => (a.kind !== b.kind ? (a.kind < b.kind ? -1 : 1) : byName(a, b)));
    return { nodes: out.sort(byName), malformed };
  }

  private podFactsOf(pod: unknown): { readonly problem?: string; readonly requests?: ReadonlyMap<string, bigint> } {
    if (typeof pod !== 'object' || pod === null) return { problem: podProblem(pod) ?? 'it is not an object' };
    let facts = this.podFacts.get(pod);
    if (facts === undefined) {
      const problem = podProblem(pod);
      facts = problem === undefined ? { requests: podRequests(pod as PodInput) } : { problem };
      this.podFacts.set(pod, facts);
    }
    return facts;
  }

  private nodeProblemOf(node: unknown): string | undefined {
    if (typeof node !== 'object' || node === null) return nodeProblem(node);
    let facts = this.nodeProblems.get(node);
    if (facts === undefined) {
      const problem = nodeProblem(node);
      facts = problem === undefined ? {} : { problem };
      this.nodeProblems.set(node, facts);
    }
    return facts.problem;
  }

  private requestedBy(pods: readonly PodInput[]): Amounts {
    const used: Amounts = new Map();
    for (const pod of pods) addInto(used, this.podFacts.get(pod)?.requests ?? podRequests(pod));
    return used;
  }
}

export interface GpuInventory {
  /** Per GPU product, ordered by product. */
  readonly inventory: GPUInventoryEntry[];
  /** Sum of inventory[].allocatable. */
  readonly allocatableGpus: number;
  /** Sum of inventory[].free. */
  readonly freeGpus: number;
}

/**
 * Can Flotilla's pods use this node now? Not cordoned, Ready, and no NoSchedule/NoExecute taint
 * that the pods Flotilla creates do not tolerate (a reclaim taint, node.kubernetes.io/not-ready, …).
 */
export function isNodeUsable(node: NodeSnapshot): boolean {
  return !node.unschedulable && node.ready && untoleratedTaints(node.taints, DEFAULT_TOLERATIONS).length === 0;
}

/**
 * The GPUProvider status inventory: for each GPU product (as GFD labels it, `-SHARED` and `-MIG-…`
 * products being products of their own) the schedulable (not cordoned) nodes offering it, their
 * allocatable devices, and the free devices on the nodes Flotilla can use now (isNodeUsable).
 * memoryMiB is the smallest labelled GPU memory among those nodes; absent when none is labelled.
 */
export function gpuInventory(nodes: readonly NodeSnapshot[]): GpuInventory {
  const byProduct = new Map<string, { memoryMiB?: number; nodes: number; allocatable: number; free: number }>();
  for (const node of nodes) {
    if (node.unschedulable) continue;
    const usable = isNodeUsable(node);
    for (const offer of gpuOffersOfNode(node)) {
      const entry = byProduct.get(offer.product) ?? { nodes: 0, allocatable: 0, free: 0 };
      entry.nodes += 1;
      entry.allocatable += offer.allocatable;
      if (usable) entry.free += Math.min(offer.free, offer.allocatable);
      if (offer.gpuMemoryMiB !== undefined && (entry.memoryMiB === undefined || offer.gpuMemoryMiB < entry.memoryMiB)) {
        entry.memoryMiB = offer.gpuMemoryMiB;
      }
      byProduct.set(offer.product, entry);
    }
  }
  const inventory: GPUInventoryEntry[] = [...byProduct]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([product, e]) => ({
      product,
      ...(e.memoryMiB !== undefined ? { memoryMiB: e.memoryMiB } : {}),
      nodes: e.nodes,
      allocatable: e.allocatable,
      free: e.free,
    }));
  return {
    inventory,
    allocatableGpus: inventory.reduce((s, e) => s + (e.allocatable ?? 0), 0),
    freeGpus: inventory.reduce((s, e) => s + (e.free ?? 0), 0),
  };
}
