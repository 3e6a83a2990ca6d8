// What every cloud GPU pool puts on its nodes and checks of its size, whichever cloud makes them.
import type { GpuNodeShape } from './capacity.ts';

/** Node label naming the pool; the same key the local federation's KWOK pools carry. */
export const NODE_POOL_LABEL = 'flotilla.dev/node-pool';
/**
 * Taint key of GPU nodes: only pods that tolerate it (Flotilla's lent pods do, with Exists; the
 * GPU Operator's DaemonSets do) land there, so no CPU-only workload takes a GPU node.
 */
export const GPU_TAINT_KEY = 'nvidia.com/gpu';

/** Nodes × GPUs per node, after checking both are whole numbers the cloud accepts. */
export function poolGpus(poolName: string, nodes: number, shape: GpuNodeShape, minNodes: number): number {
  if (!Number.isInteger(nodes) || nodes < minNodes) throw new Error(`pool ${poolName}: nodes must be a whole number ≥ ${minNodes}, got ${nodes}`);
  if (!Number.isInteger(shape.gpusPerNode) || shape.gpusPerNode < 1)
    throw new Error(`pool ${poolName}: gpusPerNode must be a whole number ≥ 1, got ${shape.gpusPerNode}`);
  return nodes * shape.gpusPerNode;
}
