// API group, version and the names of the two kinds, for clients, informers, RBAC and the CRDs.

export const GROUP = 'flotilla.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface KindNames {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
}

export const AIJOB = {
  kind: 'AIJob',
  listKind: 'AIJobList',
  plural: 'aijobs',
  singular: 'aijob',
  shortNames: ['aij'],
  scope: 'Namespaced',
} as const satisfies KindNames;

export const GPUPROVIDER = {
  kind: 'GPUProvider',
  listKind: 'GPUProviderList',
  plural: 'gpuproviders',
  singular: 'gpuprovider',
  shortNames: ['gpup'],
  scope: 'Cluster',
} as const satisfies KindNames;

/** Category so `kubectl get flotilla` lists both kinds. */
export const CATEGORY = 'flotilla';

/**
 * Held on every paid AIJob so that deleting it waits until the work done is settled: added at
 * creation by the defaulting webhook of an operator that settles payments (or, for a job created
 * without it, by the funding controller before it writes Funded=True), removed only by the
 * settlement controller once the escrow is closed (settled or reclaimed) or shown empty.
 */
export const SETTLEMENT_FINALIZER = `${GROUP}/settlement`;

/** Labels the operator puts on every object it creates in a provider cluster. */
export const LABEL_JOB_UID = `${GROUP}/job-uid`;
export const LABEL_ATTEMPT = `${GROUP}/attempt`;
export const LABEL_HUB = `${GROUP}/hub`;

/**
 * Node taint a provider sets to take a node back; lent pods there are drained
 * (docs/architecture.md, "Lifecycle and preemption").
 */
export const TAINT_RECLAIM = `${GROUP}/reclaim`;
/** Node annotation (RFC 3339) by which lent pods must be gone; without it the reclaim is immediate. */
export const ANNOTATION_RECLAIM_DEADLINE = `${GROUP}/reclaim-deadline`;
