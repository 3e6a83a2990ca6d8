// Plain input and output of the placement engine (docs/architecture.md, "Placement"). Everything
// here is data: the reconciler's gatherer fills a JobDemand and ProviderSnapshots from the AIJob, the
// GPUProviders and the provider informer caches; placeJob decides; the reconciler applies. No
// Kubernetes types leak in, so the engine is tested and benchmarked on its own. See docs/placement.md.
//
// Units: GPUs and other extended resources in whole devices, CPU in millicores, memory in bytes,
// GPU memory in MiB (as GFD labels it), time in seconds (epoch milliseconds for instants), money in
// integer token base units (bigint; 2.5 USDC with 6 decimals is 2_500_000n). All numbers are
// integers; non-integers are rejected with PlacementInputError.

/** A node taint as in core/v1. Only NoSchedule and NoExecute keep pods off a node. */
export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** A pod toleration as in core/v1 (tolerationSeconds does not matter to placement). */
export interface Toleration {
  /** Empty or absent with operator Exists tolerates every taint. */
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  /** Absent tolerates every effect. */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** Amounts on one node. */
export interface NodeResources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /**
   * Extended resources by Kubernetes name, in whole devices: `nvidia.com/gpu`,
   * `nvidia.com/gpu.shared` (time-slicing with renameByDefault), `nvidia.com/mig-3g.20gb` (MIG mixed
   * strategy), … Absent means zero.
   */
  readonly extended: Readonly<Record<string, number>>;
}

/** One node of a provider cluster as the provider's informer cache shows it. */
export interface NodeSnapshot {
  readonly name: string;
  /** Node labels; the engine reads the GPU Feature Discovery ones (`nvidia.com/gpu.product`, …). */
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  /** spec.unschedulable (cordoned). */
  readonly unschedulable: boolean;
  /** The Ready condition is True. */
  readonly ready: boolean;
  readonly allocatable: NodeResources;
  /** Allocatable minus the requests of the node's non-terminated pods (negative values count as 0). */
  readonly free: NodeResources;
}

/** What a provider charges per GPU-hour for one product, in the job's payment token. */
export interface ProductPrice {
  readonly product: string;
  readonly pricePerGpuHour: bigint;
}

/**
 * A provider's track record (GPUProvider status.reputation), as scaled integers so that scores are
 * exact and identical on every machine.
 */
export interface ProviderReputation {
  /**
   * Observed preemption hazard λ: preemptions per million GPU-hours lent (decayed). 12_500 means
   * 0.0125 preemptions per GPU-hour. A new provider carries whatever prior the gatherer chooses.
   */
  readonly preemptionsPerMillionGpuHours: number;
  /** Share of finished attempts that completed (not preempted, not failed), in parts per million. */
  readonly completionRatePpm: number;
}

/** One provider cluster at one instant. */
export interface ProviderSnapshot {
  /** GPUProvider name; unique. */
  readonly name: string;
  readonly region: string;
  /** Condition Ready is True (reachable, credential valid, inventory fresh). */
  readonly ready: boolean;
  /** Why not Ready, from the condition's reason, for the user-facing message. */
  readonly notReadyReason?: string;
  /** spec.cordoned: the provider takes no new jobs. */
  readonly cordoned: boolean;
  /** GPUs Flotilla may still use there (spec.maxGpus or the ResourceQuota minus what runs); absent = no cap. */
  readonly gpuQuotaRemaining?: number;
  /** Prices in the job's payment token; a product with no price is not for lending. */
  readonly prices: readonly ProductPrice[];
  readonly reputation: ProviderReputation;
  readonly nodes: readonly NodeSnapshot[];
  /** GPUProvider spec.payoutAddress: two providers paid to one address are not independent verifiers. */
  readonly payoutAddress?: string;
  /** Runs here proven wrong by re-execution (docs/verification.md): any keeps it from jobs that verify. */
  readonly provenMismatches?: number;
  /**
   * GPUs already decided for this provider that its API server has not yet shown bound (the
   * scheduler's holds and pods created but unscheduled): the work its client and its scheduler still
   * have to get through. Between candidates of equal cost the one with less in flight wins, so a
   * burst dispatches through every provider's API at once instead of one provider after another.
   */
  readonly inFlightGpus?: number;
}

/**
 * A provider this job must avoid until an instant: it preempted the job recently
 * (docs/architecture.md, "Lifecycle and preemption").
 */
export interface ProviderCoolDown {
  readonly provider: string;
  /** Epoch milliseconds; the provider is eligible again from this instant on. */
  readonly until: number;
}

/** What the job needs and accepts. */
export interface JobDemand {
  /** Pods in the gang; all on one provider or none. */
  readonly replicas: number;
  /** Per replica, all on the replica's node. */
  readonly gpusPerReplica: number;
  readonly cpuMillisPerReplica: number;
  readonly memoryBytesPerReplica: number;
  /**
   * Acceptable products, exactly as GFD labels them (`NVIDIA-H100-80GB-HBM3`). Time-sliced GPUs
   * (`…-SHARED`) and MIG slices (`NVIDIA-A100-SXM4-40GB-MIG-3g.20gb`) are products of their own and
   * match only when listed. Empty: any whole, unshared GPU.
   */
  readonly products: readonly string[];
  /** Floor on GPU memory in MiB (`nvidia.com/gpu.memory`). */
  readonly minGpuMemoryMiB?: number;
  /** Floor on CUDA compute capability. */
  readonly minComputeCapability?: { readonly major: number; readonly minor: number };
  /** Cap on price per GPU-hour, in base units of the payment token; absent = no cap. */
  readonly maxPricePerGpuHour?: bigint;
  /** Decimals of the payment token, only to write prices in messages (6 for USDC, 18 for DAI). */
  readonly priceDecimals: number;
  /** Empty or absent: every provider is allowed. */
  readonly allowedProviders?: readonly string[];
  readonly deniedProviders?: readonly string[];
  /** Empty or absent: every region is allowed. */
  readonly regions?: readonly string[];
  /** Floor on ProviderReputation.completionRatePpm (spec.placement.minReputation × 1e6). */
  readonly minCompletionRatePpm?: number;
  /** Estimated GPU-seconds of work left (all replicas together). */
  readonly remainingGpuSeconds: number;
  /** Seconds between checkpoints; absent: no checkpoints, a preemption loses everything. */
  readonly checkpointIntervalSeconds?: number;
  /** Providers that preempted this job and are cooling down. */
  readonly coolDowns?: readonly ProviderCoolDown[];
  /** spec.recovery.strategy SameProviderFirst: the provider that preempted it goes first whenever it fits. */
  readonly preferredProvider?: string;
  /** Tolerations beyond DEFAULT_TOLERATIONS that the job's pods carry. */
  readonly extraTolerations?: readonly Toleration[];
}

/** Machine-readable reasons a provider was not chosen, in the order the filters run. */
export type RejectionReason =
  | 'Denied' // in deniedProviders
  | 'NotAllowed' // allowedProviders is set and does not name it
  | 'RegionNotAllowed'
  | 'NotReady'
  | 'Cordoned'
  | 'CoolingDown' // preempted this job recently
  | 'LowReputation'
  | 'QuotaExceeded'
  | 'NoMatchingProduct' // no node carries an acceptable product
  | 'NotForLending' // the product is there but has no price
  | 'PriceTooHigh'
  | 'GpuMemoryTooSmall'
  | 'ComputeCapabilityTooLow'
  | 'InsufficientCapacity'; // the products pass, the gang does not fit on the nodes

export interface ProviderRejection {
  readonly provider: string;
  readonly reason: RejectionReason;
  /** Short and human, without the provider name: `price 3.20/GPU-h exceeds max 2.50`. */
  readonly message: string;
}

/** How a candidate (one provider, one product) scored. Lower expectedCost wins. */
export interface PlacementScore {
  readonly provider: string;
  readonly product: string;
  readonly pricePerGpuHour: bigint;
  /** price × remaining GPU-hours, rounded up: what the job costs if never preempted. */
  readonly listCost: bigint;
  /** Expected extra work from preemptions as a fraction of the remaining work, in ppm (rounded up). */
  readonly expectedReworkPpm: bigint;
  /** price × remaining GPU-hours × (1 + expected rework), rounded up to a base unit. */
  readonly expectedCost: bigint;
  /** Free GPUs left behind on the nodes the gang uses (bin-packing: fewer is better). */
  readonly strandedGpus: number;
  readonly nodesUsed: number;
}

/** A node-affinity requirement the job's pods should carry so the provider's scheduler honours the decision. */
export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'Gt';
  readonly values: readonly string[];
}

export interface Placement {
  readonly provider: string;
  readonly product: string;
  /** What each pod requests `gpusPerReplica` of: `nvidia.com/gpu`, `nvidia.com/gpu.shared` or `nvidia.com/mig-…`. */
  readonly resourceName: string;
  /** Product (and GPU memory floor) as node labels say them on this provider. */
  readonly nodeSelector: readonly NodeSelectorRequirement[];
  /** Node per replica: assignments[i] is the node replica i fits on. A proof the gang fits, not a binding. */
  readonly assignments: readonly string[];
  readonly score: PlacementScore;
}

export type PlacementDecision =
  | {
      readonly outcome: 'Placed';
      readonly placement: Placement;
      /** Every feasible candidate, best first (the placement's own score first). */
      readonly ranking: readonly PlacementScore[];
      /** Providers with no feasible candidate, by name. */
      readonly rejections: readonly ProviderRejection[];
    }
  | {
      readonly outcome: 'Unschedulable';
      /** One per provider, by name. */
      readonly rejections: readonly ProviderRejection[];
    };

/** Thrown when the input breaks the contract above (a bug in the gatherer, never a user error). */
export class PlacementInputError extends Error {
  override readonly name = 'PlacementInputError';
}
