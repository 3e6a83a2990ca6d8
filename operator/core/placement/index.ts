// The placement engine's public surface (docs/architecture.md, "Placement"). See docs/placement.md.
export { placeJob, placeJobIndexed, validateDemand } from './place-job.ts';
export { indexProvider, indexProviders, withProvider, withoutProvider } from './provider-index.ts';
export type { PlacementIndex, ProviderIndex } from './provider-index.ts';
export { withReservation } from './reservation.ts';
export { formatUnschedulableMessage, formatTokenAmount } from './messages.ts';
export type { UnschedulableMessageOptions } from './messages.ts';
export { DEFAULT_TOLERATIONS, toleratesTaint } from './taints.ts';
export { gpuOffersOfNode } from './gfd.ts';
export type { GpuOffer } from './gfd.ts';
export { expectedCostToFinish, COST_DENOMINATOR } from './score.ts';
export * from './types.ts';
