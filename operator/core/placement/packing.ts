// Gang bin-packing of identical replicas onto one pool's nodes, best fit.
//
// Best fit puts each replica on the node that leaves the fewest free devices behind. For identical
// replicas that is the node with the least free devices that still fits one, and it stays the best
// node until it is full; so best fit is: visit nodes by (free asc, name asc), starting at the first
// with free ≥ gpus, and give each as many replicas as its devices, CPU and memory allow. Large free
// blocks stay whole for large jobs. The pool's node lists are already in that order, so the scan
// usually stops after a handful of nodes; it visits every candidate node only when the gang does
// not fit, and then it has counted exactly how many replicas do (nodes are independent, so the
// greedy count is the maximum).
//
// The scan never gives a node more than free / per-replica of any resource: it cannot over-allocate.

import { untoleratedTaints } from './taints.ts';
import type { GpuPool, PoolNode } from './provider-index.ts';
import type { Taint, Toleration } from './types.ts';

export interface GangShape {
  readonly replicas: number;
  readonly gpus: number;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** 0 for no floor. */
  readonly minGpuMemoryMiB: number;
  /** Encoded; -1 for no floor. */
  readonly minComputeCapability: number;
  /** Tolerations beyond the defaults; empty: tainted nodes are never used. */
  readonly extraTolerations: readonly Toleration[];
}

export interface PackedGang {
  readonly fits: true;
  /** assignments[i] = node of replica i. */
  readonly assignments: readonly string[];
  readonly strandedGpus: number;
  readonly nodesUsed: number;
}

/** Why the gang did not fit: what the full scan saw. */
export interface UnpackedGang {
  readonly fits: false;
  /** Replicas that do fit (< replicas). */
  readonly placed: number;
  /** Most free devices on a node that passes taints and floors; undefined when no node does. */
  readonly largestFree: number | undefined;
  /** Nodes with room for a replica's devices but taints the pods do not tolerate. */
  readonly tainted: number;
  readonly exampleTaint: Taint | undefined;
  readonly belowGpuMemory: number;
  readonly belowComputeCapability: number;
  /** Nodes with room for a replica's devices but not its CPU or memory. */
  readonly shortOfCpuOrMemory: number;
}

export type PackResult = PackedGang | UnpackedGang;

/** First position whose node has free ≥ gpus (nodes sorted by free). */
function lowerBound(nodes: readonly PoolNode[], gpus: number): number {
  let lo = 0;
  let hi = nodes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((nodes[mid]?.free ?? 0) < gpus) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Replicas a node can take by devices, CPU and memory (≥ 0). */
function capacity(node: PoolNode, shape: GangShape): number {
  let fit = Math.floor(node.free / shape.gpus);
  if (shape.cpuMillis > 0) fit = Math.min(fit, Math.floor(node.cpuMillis / shape.cpuMillis));
  if (shape.memoryBytes > 0) fit = Math.min(fit, Math.floor(node.memoryBytes / shape.memoryBytes));
  return fit;
}

/** Places the gang on the pool best fit first, or explains why it does not fit. */
export function packGang(pool: GpuPool, shape: GangShape): PackResult {
  const withTainted = shape.extraTolerations.length > 0;
  const checkMemory = shape.minGpuMemoryMiB > pool.minUsableGpuMemoryMiB;
  const checkCompute = shape.minComputeCapability > pool.minUsableComputeCapability;
  const assignments: string[] = [];
  let strandedGpus = 0;
  let nodesUsed = 0;
  let tainted = 0;
  let exampleTaint: Taint | undefined;
  let belowGpuMemory = 0;
  let belowComputeCapability = 0;
  let shortOfCpuOrMemory = 0;
  let largestFree: number | undefined;

  const eligible = (node: PoolNode): boolean => {
    if (checkMemory && node.gpuMemoryMiB < shape.minGpuMemoryMiB) {
      belowGpuMemory += 1;
      return false;
    }
    if (checkCompute && node.computeCapability < shape.minComputeCapability) {
      belowComputeCapability += 1;
      return false;
    }
    if (node.taints.length > 0) {
      const left = untoleratedTaints(node.taints, shape.extraTolerations);
      if (left.length > 0) {
        tainted += 1;
        exampleTaint ??= left[0];
        return false;
      }
    }
    return true;
  };

  // Walk the untainted and (for jobs with extra tolerations) the tainted list as one (free, name)
  // sequence, two pointers from each list's first node with enough devices: nothing is copied.
  const untainted = pool.nodes;
  const taintedNodes = withTainted ? pool.tainted : [];
  let i = lowerBound(untainted, shape.gpus);
  let j = lowerBound(taintedNodes, shape.gpus);
  for (;;) {
    const x = untainted[i];
    const y = taintedNodes[j];
    let node: PoolNode;
    if (x !== undefined && (y === undefined || x.free < y.free || (x.free === y.free && x.name < y.name))) {
      node = x;
      i += 1;
    } else if (y !== undefined) {
      node = y;
      j += 1;
    } else {
      break;
    }
    if (!eligible(node)) continue;
    largestFree = node.free; // ascending order: the last eligible node seen is the largest
    const fit = Math.min(capacity(node, shape), shape.replicas - assignments.length);
    if (fit === 0) {
      shortOfCpuOrMemory += 1;
      continue;
    }
    for (let k = 0; k < fit; k++) assignments.push(node.name);
    strandedGpus += node.free - fit * shape.gpus;
    nodesUsed += 1;
    if (assignments.length === shape.replicas) return { fits: true, assignments, strandedGpus, nodesUsed };
  }

  // Did not fit. Nodes below the GPU threshold were not visited: the largest eligible one among
  // them is the first eligible one walking down from the threshold.
  if (largestFree === undefined) largestFree = largestEligibleBelow(pool, shape, withTainted);
  if (!withTainted) {
    // Tainted nodes were skipped wholesale; count the ones that had room, for the message.
    const start = lowerBound(pool.tainted, shape.gpus);
    tainted = pool.tainted.length - start;
    exampleTaint = pool.tainted[start]?.taints[0];
  }
  return {
    fits: false,
    placed: assignments.length,
    largestFree,
    tainted,
    exampleTaint,
    belowGpuMemory,
    belowComputeCapability,
    shortOfCpuOrMemory,
  };
}

function largestEligibleBelow(pool: GpuPool, shape: GangShape, withTainted: boolean): number | undefined {
  let best: number | undefined;
  for (const list of withTainted ? [pool.nodes, pool.tainted] : [pool.nodes]) {
    for (let i = lowerBound(list, shape.gpus) - 1; i >= 0; i--) {
      const node = list[i];
      if (node === undefined) break;
      if (node.gpuMemoryMiB < shape.minGpuMemoryMiB || node.computeCapability < shape.minComputeCapability) continue;
      if (node.taints.length > 0 && untoleratedTaints(node.taints, shape.extraTolerations).length > 0) continue;
      best = Math.max(best ?? 0, node.free);
      break;
    }
  }
  return best;
}
