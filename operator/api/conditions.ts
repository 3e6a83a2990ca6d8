// Condition types of both kinds and, next to each, every reason it may carry (Kueue's practice).
// Controllers set conditions only with these names; docs/api.md's tables are generated from here.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ReasonDoc {
  readonly status: ConditionStatus;
  readonly description: string;
}

export interface ConditionDoc {
  readonly description: string;
  readonly reasons: { readonly [reason: string]: ReasonDoc };
}

const r = (status: ConditionStatus, description: string): ReasonDoc => ({ status, description });

export const aiJobConditions = {
  Funded: {
    description: 'The escrow holds a deposit for the job that covers spec.payment.maxAmount.',
    reasons: {
      EscrowDeposited: r('True', 'The deposit is on chain.'),
      AwaitingDeposit: r('False', "No deposit for the job's escrow id yet."),
      InsufficientDeposit: r('False', 'The deposit is below spec.payment.maxAmount.'),
      TokenNotSupported: r('False', 'spec.payment.token is not a token the operator is configured with (or no chain is configured).'),
      WrongToken: r('False', "The deposit under the job's escrow id is in another token than spec.payment.token."),
      DepositClosed: r('False', 'The escrow job was already settled or reclaimed; it cannot fund this job.'),
      ChainUnreachable: r('Unknown', 'The chain RPC did not answer; the deposit is read again shortly.'),
    },
  },
  Scheduled: {
    description: 'A provider was chosen for the current attempt and its pods were created there.',
    reasons: {
      Placed: r('True', 'The gang fits the provider named in status.placement.'),
      Unschedulable: r('False', "No provider can take the gang; the message gives each provider's reason."),
      Rescheduling: r('False', 'The last attempt ended early and the next one is being placed.'),
      RestartBackoff: r('False', 'The last attempt was preempted; the next one is placed after an exponential back-off.'),
      AwaitingFunding: r('False', 'spec.payment is set and the Funded condition is not True yet; nothing is placed before it is.'),
    },
  },
  Running: {
    description: 'Every replica of the current attempt is running.',
    reasons: {
      PodsRunning: r('True', 'All replicas are running.'),
      PodsPending: r('False', 'Some replicas are not bound or not started yet.'),
      AttemptEnded: r('False', 'The attempt is over (see the Preempted and Finished conditions).'),
      NodeReclaiming: r('False', "A replica's node is tainted flotilla.dev/reclaim; the replicas got SIGTERM to checkpoint before the deadline."),
      ProviderUnreachable: r('Unknown', "The provider's API server does not answer; the attempt is failed over once the grace period ends."),
      OutputPinning: r('False', 'Every replica completed; the job becomes Succeeded once its output is pinned (OutputPinned).'),
      Verifying: r('False', 'Every replica completed; the run is being re-executed on an independent provider before payment (Verified).'),
    },
  },
  Preempted: {
    description: 'The last attempt was ended by the provider, not by the job. The reason is the signal that showed it.',
    reasons: {
      DisruptionTarget: r('True', 'A pod got the DisruptionTarget condition (scheduler preemption, eviction, taint manager, PodGC).'),
      PodDeleted: r('True', 'A pod disappeared.'),
      NodeLost: r('True', 'A node running a replica was deleted or became NotReady.'),
      NodeReclaimed: r('True', 'A node running a replica was tainted flotilla.dev/reclaim.'),
      BindTimeout: r('True', 'Replicas stayed Pending past the bind timeout.'),
      ProviderUnreachable: r('True', 'The provider stayed unreachable past its grace period.'),
      Recovered: r('False', 'A later attempt is running.'),
    },
  },
  Finished: {
    description: 'The job reached an end: no further attempt will be made.',
    reasons: {
      Succeeded: r('True', 'Every replica exited 0 and the output CID was reported.'),
      Failed: r('True', "A replica failed through the job's own fault."),
      RestartLimitExceeded: r('True', 'More than spec.recovery.maxRestarts attempts were preempted.'),
      DeadlineExceeded: r('True', 'spec.deadline passed before the job finished.'),
      OutputInvalid: r('True', 'The termination message did not carry a valid output CID.'),
      InvalidSpec: r(
        'True',
        "The spec cannot run (a field the webhook refuses, checked again by the operator when the webhook was bypassed; or a Secret or key it references is missing in the job's namespace when an attempt starts); the message names the field.",
      ),
      PolicyViolation: r(
        'True',
        "The job asks for what its namespace's placement policy forbids (a region outside it, a denied provider, a higher price, no payment); the message names the field and the annotation.",
      ),
      VerificationInconclusive: r(
        'True',
        'Three runs on independent providers gave three outputs: the job is not deterministic, so Exact comparison cannot judge it.',
      ),
    },
  },
  Verified: {
    description: 'Whether an independent re-execution confirmed the run (docs/verification.md). Only on jobs whose spec.verification applies.',
    reasons: {
      Unsampled: r('False', 'SpotCheck did not draw this run; it is paid unverified.'),
      Pending: r('Unknown', 'The run is being re-executed on an independent provider; payment waits.'),
      Mismatch: r('Unknown', 'The re-execution disagreed with the original; a third provider breaks the tie.'),
      ReExecutionFailed: r('Unknown', 'A re-execution failed; another provider runs it.'),
      Verified: r('True', 'An independent run produced the same output (a proven-wrong re-execution is not paid).'),
      Refuted: r(
        'True',
        'Two independent runs agreed on another output: the original is proven wrong, not paid, its provider slashed; status.outputCID is theirs.',
      ),
      Inconclusive: r('False', 'No two runs agreed; nobody is slashed.'),
      Expired: r('False', 'The window (spec.verification.window) or the re-execution limit ran out first; the run is paid unverified.'),
    },
  },
  OutputPinned: {
    description: "status.outputCID is pinned on the hub's IPFS node (only when spec.output.pin).",
    reasons: {
      Pinned: r('True', 'The pin is in place.'),
      PinPending: r('False', 'Pinning has not finished yet.'),
      PinFailed: r('False', 'The IPFS node refused or failed the pin; it is retried.'),
    },
  },
  Settled: {
    description: 'The escrow paid the providers and the rest is refundable to the payer.',
    reasons: {
      SettlementConfirmed: r('True', 'The settlement transaction status.settlement.txHash is mined.'),
      SettlementPending: r('False', 'The settlement is sent or about to be; status.settlement.id is fixed.'),
      SettlementFailed: r(
        'False',
        'The settlement transaction reverted, or the escrow has no open deposit under status.settlement.id; the message says which.',
      ),
      ChainUnreachable: r('False', 'The chain RPC did not answer; the job stays Succeeded/Failed and settles when the chain is back.'),
      Reclaimed: r('False', 'The payer reclaimed the deposit after its deadline before the settlement landed; nothing is paid.'),
      NotMetered: r('False', 'An attempt has no recorded price or a paid provider has no payout address; settlement waits.'),
    },
  },
} as const satisfies { readonly [type: string]: ConditionDoc };

export const gpuProviderConditions = {
  Reachable: {
    description: "The provider's API server answers with the credential from spec.kubeconfigSecretRef.",
    reasons: {
      Connected: r('True', 'The last request succeeded.'),
      Connecting: r('Unknown', 'No request has completed yet.'),
      SecretNotFound: r('False', 'The Secret named by spec.kubeconfigSecretRef does not exist.'),
      SecretKeyMissing: r('False', 'The Secret has no spec.kubeconfigSecretRef.key.'),
      KubeconfigInvalid: r('False', 'The kubeconfig does not parse or names no usable context.'),
      CertificateInvalid: r('False', 'TLS verification of the API server failed (wrong CA, name or expiry).'),
      Unauthorized: r('False', 'The API server rejected the credential (401).'),
      Forbidden: r('False', 'The credential may not list nodes or pods in spec.namespace (403).'),
      ConnectionFailed: r('False', 'The API server could not be reached (DNS, refused, reset).'),
      Timeout: r('False', 'The API server did not answer in time.'),
      ResponseTooLarge: r(
        'False',
        "The API server sent a response or watch event over the operator's size limits, or more objects than it keeps of one collection.",
      ),
    },
  },
  Ready: {
    description: 'New attempts may be placed here.',
    reasons: {
      Ready: r('True', 'Reachable, not cordoned, inventory known.'),
      Unreachable: r('False', 'Reachable is not True.'),
      KubeconfigInvalid: r('False', 'The operator refuses the kubeconfig (the message names the key); no request is sent to the provider.'),
      Cordoned: r('False', 'spec.cordoned is true.'),
      NamespaceMissing: r('False', 'spec.namespace does not exist in the provider.'),
      InventoryPending: r('False', 'Node and pod informers have not synced yet.'),
      NoGPUs: r('False', 'No schedulable node offers a priced GPU product.'),
    },
  },
  Trusted: {
    description: 'No run here was proven wrong by independent re-execution (docs/verification.md). Jobs that verify are never placed on an untrusted provider.',
    reasons: {
      NoProvenMismatch: r('True', 'status.reputation.provenMismatches is 0.'),
      ProvenMismatch: r('False', 'A run here reported an output two independent runs refuted; the provider is excluded from jobs that verify.'),
    },
  },
  Fenced: {
    description:
      'The provider\'s API server refuses creates from a deposed leader of this hub: the leader raised its fencing token in spec.namespace\'s flotilla-fence ConfigMap and a create stamped below it was refused (docs/operator.md, "Fencing a deposed leader"). Set by the leader once it raised its token there; placement does not depend on it.',
    reasons: {
      Enforced: r('True', "The token is raised and a dry-run create stamped below it was refused by the provider's fence policy."),
      Absent: r(
        'False',
        'spec.namespace has no flotilla-fence ConfigMap (a provider chart from before the fence, or fence.enabled=false): only the lease guard holds a deposed leader back here.',
      ),
      Unenforced: r('False', 'The token is raised, but a create stamped below it was accepted: the fence policies are not installed.'),
      Unverified: r('Unknown', 'The provider refused the raise or the probe for another reason (the message says which).'),
    },
  },
  InventoryValid: {
    description: "Every node and pod the provider's API server sent has the shape the operator reads; malformed ones are skipped and named here.",
    reasons: {
      Valid: r('True', 'No object was skipped.'),
      MalformedObjects: r('False', 'Some objects were skipped (placement goes on without them); the message names them and what is wrong.'),
    },
  },
} as const satisfies { readonly [type: string]: ConditionDoc };

export type AIJobConditionType = keyof typeof aiJobConditions;
export type GPUProviderConditionType = keyof typeof gpuProviderConditions;
export type AIJobConditionReason = { [T in AIJobConditionType]: keyof (typeof aiJobConditions)[T]['reasons'] }[AIJobConditionType];
export type GPUProviderConditionReason = {
  [T in GPUProviderConditionType]: keyof (typeof gpuProviderConditions)[T]['reasons'];
}[GPUProviderConditionType];

function names<K extends string>(keys: readonly K[]): { readonly [N in K]: N } {
  return Object.fromEntries(keys.map((k) => [k, k])) as { [N in K]: N };
}

function reasonsOf<C extends { readonly [type: string]: ConditionDoc }>(conditions: C): string[] {
  return Object.values(conditions).flatMap((c) => Object.keys(c.reasons));
}

/** `AIJOB_CONDITION.Scheduled === 'Scheduled'`: names checked by the compiler, not typed as strings. */
export const AIJOB_CONDITION = names(Object.keys(aiJobConditions) as AIJobConditionType[]);
export const AIJOB_REASON = names(reasonsOf(aiJobConditions) as AIJobConditionReason[]);
export const GPUPROVIDER_CONDITION = names(Object.keys(gpuProviderConditions) as GPUProviderConditionType[]);
export const GPUPROVIDER_REASON = names(reasonsOf(gpuProviderConditions) as GPUProviderConditionReason[]);
