// The words users read in the AIJob's Unschedulable condition: one short reason per provider, and
// formatUnschedulableMessage() to join them, in the manner of the kube-scheduler's
// "0/3 nodes are available: …". Messages hold no clock-relative text ("for 5 more minutes"), so the
// same state gives the same message and the reconciler's "patch only when changed" holds.

import { formatBytes, formatCpuMillis } from '../quantity.ts';
import { formatComputeCapability } from './gfd.ts';
import type { GpuPool } from './provider-index.ts';
import type { GangShape, UnpackedGang } from './packing.ts';
import { formatTaint } from './taints.ts';
import type { ProviderRejection } from './types.ts';

/** `n word` with an English plural: 1 GPU, 8 GPUs. */
export function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Base units as a decimal with at least two places: 3_200_000n (6 decimals) → "3.20". */
export function formatTokenAmount(amount: bigint, decimals: number): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  let fraction = decimals > 0 ? digits.slice(digits.length - decimals) : '';
  fraction = fraction.replace(/0+$/, '').padEnd(Math.min(2, decimals), '0');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Parts per million as a share with three places: 820_000 → "0.820". */
export function formatPpmShare(ppm: number): string {
  return (ppm / 1_000_000).toFixed(3);
}

/** An RFC 3339 instant in UTC, to the second. */
export function formatInstant(epochMillis: number): string {
  return new Date(epochMillis).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function deviceWord(pool: GpuPool): string {
  return pool.mig ? 'MIG device' : 'GPU';
}

export function noMatchingProductMessage(accepted: readonly string[], onOffer: readonly string[]): string {
  const wanted = accepted.length > 0 ? orList(accepted) : 'an unshared whole GPU';
  const has = onOffer.length > 0 ? `has ${onOffer.join(', ')}` : 'has no GPU nodes with GFD labels';
  return `no node with ${wanted} (${has})`;
}

export function gpuMemoryMessage(pool: GpuPool, floorMiB: number): string {
  const has = pool.maxGpuMemoryMiB > 0 ? `${pool.maxGpuMemoryMiB} MiB` : `unknown (no ${pool.memoryLabel} label)`;
  return `GPU memory ${has} below min ${floorMiB} MiB`;
}

export function computeCapabilityMessage(pool: GpuPool, floor: number): string {
  const has = pool.maxComputeCapability < 0 ? 'unknown' : formatComputeCapability(pool.maxComputeCapability);
  return `compute capability ${has} below min ${formatComputeCapability(floor)}`;
}

export function priceMessage(price: bigint, max: bigint, decimals: number): string {
  return `price ${formatTokenAmount(price, decimals)}/GPU-h exceeds max ${formatTokenAmount(max, decimals)}`;
}

export function notForLendingMessage(product: string): string {
  return `no price for ${product} (not for lending)`;
}

/** `only 1 of 2 replicas fit (needs 8 GPUs per node; largest free 4; 2 nodes tainted …)`. */
export function capacityMessage(pool: GpuPool, shape: GangShape, result: UnpackedGang): string {
  const head =
    result.placed === 0
      ? shape.replicas === 1
        ? 'the replica does not fit'
        : `none of ${shape.replicas} replicas fit`
      : `only ${result.placed} of ${shape.replicas} replicas fit`;
  let needs = count(shape.gpus, deviceWord(pool));
  if (result.shortOfCpuOrMemory > 0) {
    if (shape.cpuMillis > 0) needs += `, ${formatCpuMillis(shape.cpuMillis)} CPU`;
    if (shape.memoryBytes > 0) needs += `, ${formatBytes(shape.memoryBytes)} memory`;
  }
  const details = [`needs ${needs} per node`];
  if (result.largestFree !== undefined) details.push(`largest free ${result.largestFree}`);
  if (result.shortOfCpuOrMemory > 0) details.push(`${count(result.shortOfCpuOrMemory, 'node')} short of CPU or memory`);
  if (result.tainted > 0) {
    const example = result.exampleTaint ? ` ${formatTaint(result.exampleTaint)}` : '';
    details.push(`${count(result.tainted, 'node')} tainted${example}`);
  }
  if (result.belowGpuMemory > 0) details.push(`${count(result.belowGpuMemory, 'node')} below ${shape.minGpuMemoryMiB} MiB GPU memory`);
  if (result.belowComputeCapability > 0) {
    details.push(`${count(result.belowComputeCapability, 'node')} below compute capability ${formatComputeCapability(shape.minComputeCapability)}`);
  }
  if (pool.unavailableNodes > 0) details.push(`${count(pool.unavailableNodes, 'node')} cordoned or not Ready`);
  return `${head} (${details.join('; ')})`;
}

export interface UnschedulableMessageOptions {
  /** Longest message returned; whole provider entries are dropped past it. Default 2048. */
  readonly maxLength?: number;
}

/**
 * One line for the Unschedulable condition: `0/3 providers can run the job: provider-a: …;
 * provider-b, provider-c: not Ready (Unreachable)`. Providers with the same message are listed
 * together; entries are in provider-name order, so the text is stable.
 */
export function formatUnschedulableMessage(rejections: readonly ProviderRejection[], options: UnschedulableMessageOptions = {}): string {
  const maxLength = options.maxLength ?? 2048;
  const sorted = [...rejections].sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0));
  const head = sorted.length === 0 ? 'no GPUProvider is registered' : `0/${sorted.length} providers can run the job`;
  const groups = new Map<string, string[]>();
  for (const rejection of sorted) {
    const names = groups.get(rejection.message);
    if (names) names.push(rejection.provider);
    else groups.set(rejection.message, [rejection.provider]);
  }
  if (groups.size === 0) return head;
  // Room kept for the "; … and N more providers" tail whenever an entry may still follow.
  const tailRoom = 40;
  const shownEntries: string[] = [];
  let length = head.length + 2;
  let shownProviders = 0;
  let remainingGroups = groups.size;
  for (const [message, names] of groups) {
    remainingGroups -= 1;
    const entry = `${names.join(', ')}: ${message}`;
    const separator = shownEntries.length > 0 ? 2 : 0;
    if (length + separator + entry.length + (remainingGroups > 0 ? tailRoom : 0) > maxLength) break;
    shownEntries.push(entry);
    length += separator + entry.length;
    shownProviders += names.length;
  }
  const hidden = sorted.length - shownProviders;
  const tail = hidden > 0 ? `${shownEntries.length > 0 ? '; ' : ''}… and ${count(hidden, 'more provider')}` : '';
  return `${head}: ${shownEntries.join('; ')}${tail}`.slice(0, maxLength);
}
