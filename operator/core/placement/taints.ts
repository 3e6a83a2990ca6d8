// Taints and tolerations with core/v1 semantics (v1.Toleration.ToleratesTaint), for the hard filter
// "a node taint not tolerated by the pods Flotilla creates excludes the node".

import type { Taint, Toleration } from './types.ts';

/**
 * What every pod Flotilla creates tolerates: the taint GPU node pools commonly carry to keep non-GPU
 * pods away. Nothing else, so a provider's own taints (dedicated pools, `flotilla.dev/reclaim`,
 * node.kubernetes.io/* conditions) keep our pods off those nodes. The reconciler puts exactly these
 * (plus the job's extra ones) on the pods.
 */
export const DEFAULT_TOLERATIONS: readonly Toleration[] = [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }];

/** Does one toleration tolerate one taint (core/v1 rules)? */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== taint.effect) return false;
  const key = toleration.key ?? '';
  if (key !== '' && key !== taint.key) return false;
  // An empty key is only valid with Exists, and then matches every key.
  if ((toleration.operator ?? 'Equal') === 'Exists') return true;
  return key !== '' && (toleration.value ?? '') === (taint.value ?? '');
}

/** Taints that keep a pod off the node: NoSchedule and NoExecute ones no toleration covers. */
export function untoleratedTaints(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint[] {
  return taints.filter((taint) => taint.effect !== 'PreferNoSchedule' && !tolerations.some((toleration) => toleratesTaint(toleration, taint)));
}

/** `key=value:Effect`, as kubectl prints a taint. */
export function formatTaint(taint: Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
}
