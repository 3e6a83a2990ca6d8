// The AIJob spec and status schemas: the single source of truth for the CRD's OpenAPI v3 schema
// and for the TypeScript types in aijob-types.ts. Everything that needs no process is said here:
// bounds, enums, defaults and CEL rules whose messages name the field. Lists and strings are
// bounded so the apiserver's CEL cost estimate stays within its budget. Each constraint is said once,
// in OpenAPI or in CEL, because the apiserver reports a violation of both twice.
import {
  absolutePath,
  cid,
  conditionsSchema,
  decimal,
  dnsLabel,
  dnsSubdomain,
  duration,
  observedGenerationSchema,
  positiveDecimal,
  positiveQuantity,
  timestamp,
  userTimestamp,
  LABEL_VALUE_PATTERN,
  TOKEN_PATTERN,
  BYTES32_PATTERN,
  ADDRESS_PATTERN,
  IMAGE_REFERENCE_PATTERN,
} from './field-schemas.ts';
import type { SchemaProps } from './schema-types.ts';

// No `Preempted` phase: the write that closes a preempted attempt also moves the job to
// `Rescheduling` (core/lifecycle/plan.ts), so nothing would ever show it; the `Preempted`
// condition names the signal instead.
// `Verifying`: the work is done and its output recorded, and a re-execution on an independent
// provider is checking it (docs/verification.md); payment waits for the verdict.
export const AIJOB_PHASES = ['Pending', 'Funded', 'Scheduled', 'Running', 'Rescheduling', 'Verifying', 'Succeeded', 'Failed', 'Settled'] as const;

export const RECOVERY_STRATEGIES = ['Failover', 'SameProviderFirst'] as const;

export const VERIFICATION_MODES = ['None', 'SpotCheck', 'Always'] as const;
/** How a re-execution is compared with the original (docs/verification.md). */
export const VERIFICATION_COMPARISONS = ['Exact', 'Checker'] as const;
/** What an attempt was for: the job's own run, a re-execution checking it, the run that breaks a tie, or the checker judging two outputs. */
export const ATTEMPT_PURPOSES = ['Run', 'Verification', 'Tiebreak', 'Check'] as const;
export const VERIFICATION_STATES = ['Unsampled', 'Pending', 'Verified', 'Refuted', 'Inconclusive', 'Expired'] as const;

/** Spec fields fixed once the job exists: they define the work and what was funded for it. */
export const AIJOB_IMMUTABLE_FIELDS = [
  'image',
  'command',
  'args',
  'env',
  'imagePullSecrets',
  'replicas',
  'resources',
  'gpu',
  'inputs',
  'output',
  'checkpoint',
  'payment',
  'verification',
] as const;

const providerNames = (field: string, description: string) =>
  ({
    type: 'array',
    description,
    maxItems: 64,
    items: dnsSubdomain(`${field}[]`, 'A GPUProvider name.'),
    'x-kubernetes-list-type': 'set',
  }) as const;

/**
 * A transition rule (it uses oldSelf) on the spec for each immutable field. Written on the spec
 * rather than on the field so that adding or removing an optional field is caught too.
 */
function immutabilityRules() {
  return AIJOB_IMMUTABLE_FIELDS.map((f) => ({
    rule: `has(self.${f}) == has(oldSelf.${f}) && (!has(self.${f}) || self.${f} == oldSelf.${f})`,
    message: `spec.${f} is immutable`,
  }));
}

/** `a` and `b` (CEL string expressions) are the same directory or one holds the other. */
const overlaps = (a: string, b: string) => `(${a} == ${b} || ${a}.startsWith(${b} + '/') || ${b}.startsWith(${a} + '/'))`;

/**
 * Inputs, output and checkpoint in separate directories: a mount over another hides it. (Two
 * inputs nested in each other are left to the webhook and the operator: a rule over every pair
 * costs more than the apiserver's CEL budget allows.)
 */
function pathOverlapRules() {
  const output = 'self.output.path';
  const checkpoint = 'self.checkpoint.path';
  return [
    {
      rule: `!has(self.checkpoint) || !has(self.output) || !has(self.output.path) || !${overlaps(output, checkpoint)}`,
      message: 'spec.checkpoint.path must not overlap spec.output.path: they need separate directories',
    },
    {
      rule: `!has(self.inputs) || !has(self.output) || !has(self.output.path) || self.inputs.all(i, !${overlaps('i.mountPath', output)})`,
      message: 'spec.inputs[].mountPath must not overlap spec.output.path: they need separate directories',
    },
    {
      rule: `!has(self.inputs) || !has(self.checkpoint) || self.inputs.all(i, !${overlaps('i.mountPath', checkpoint)})`,
      message: 'spec.inputs[].mountPath must not overlap spec.checkpoint.path: they need separate directories',
    },
  ];
}

export const aiJobSpecSchema = {
  type: 'object',
  description: 'What to run, on which GPUs, with which data, and what the submitter will pay for it.',
  required: ['image'],
  properties: {
    image: {
      type: 'string',
      description: 'Container image of every replica. A digest-pinned reference (…@sha256:…) is recommended and can be required by policy.',
      maxLength: 512,
      'x-kubernetes-validations': [
        { rule: `self.matches('^[^[:space:]]+$')`, message: 'spec.image must be a non-empty image reference without whitespace' },
        {
          rule: `!self.matches('^[^[:space:]]+$') || self.matches('${IMAGE_REFERENCE_PATTERN}')`,
          message: 'spec.image must be an image reference: registry/name[:tag][@algorithm:digest], with a lower-case name',
        },
      ],
    },
    command: {
      type: 'array',
      description: "Entrypoint (the container's command); the image's ENTRYPOINT when empty.",
      maxItems: 64,
      items: { type: 'string', maxLength: 4096 },
      'x-kubernetes-list-type': 'atomic',
    },
    args: {
      type: 'array',
      description: "Arguments to the entrypoint; the image's CMD when empty.",
      maxItems: 256,
      items: { type: 'string', maxLength: 4096 },
      'x-kubernetes-list-type': 'atomic',
    },
    env: {
      type: 'array',
      description:
        'Environment variables of every replica: a literal value, or a key of a Secret in the job\'s namespace. Referenced keys are copied, per attempt, into a Secret in the provider\'s namespace: the provider can read them (docs/training.md, "Secrets and private images").',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: {
            type: 'string',
            description: 'Variable name.',
            maxLength: 128,
            'x-kubernetes-validations': [
              {
                rule: `self.matches('^[-._a-zA-Z][-._a-zA-Z0-9]*$')`,
                message: "spec.env[].name must consist of letters, digits, '_', '-' and '.', and not start with a digit",
              },
              { rule: `!self.startsWith('FLOTILLA_')`, message: 'spec.env[].name: the FLOTILLA_ prefix is reserved for variables the operator sets' },
              {
                rule: `!self.startsWith('LD_') && !self.startsWith('DYLD_')`,
                message: "spec.env[].name: LD_* and DYLD_* variables (the dynamic loader's, e.g. LD_PRELOAD) may not be set",
              },
            ],
          },
          value: { type: 'string', description: 'Variable value.', maxLength: 32768 },
          valueFrom: {
            type: 'object',
            description: "Where the value comes from instead of value: a key of a Secret in the job's namespace, read when an attempt starts.",
            required: ['secretKeyRef'],
            properties: {
              secretKeyRef: {
                type: 'object',
                description: "A key of a Secret in the job's namespace. A missing Secret or key ends the job (reason InvalidSpec) when it is about to start.",
                required: ['name', 'key'],
                properties: {
                  name: dnsSubdomain('spec.env[].valueFrom.secretKeyRef.name', "Name of the Secret, in the job's namespace."),
                  key: {
                    type: 'string',
                    description: "Key in the Secret's data.",
                    maxLength: 253,
                    'x-kubernetes-validations': [
                      {
                        rule: `self.matches('^[-._a-zA-Z0-9]+$')`,
                        message: "spec.env[].valueFrom.secretKeyRef.key must consist of letters, digits, '-', '_' and '.'",
                      },
                    ],
                  },
                },
              },
            },
          },
        },
        'x-kubernetes-validations': [{ rule: '!(has(self.value) && has(self.valueFrom))', message: 'spec.env[]: set value or valueFrom, not both' }],
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    imagePullSecrets: {
      type: 'array',
      description:
        'Secrets in the job\'s namespace (type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg) to pull spec.image with. Each is copied, per attempt, into the provider\'s namespace: the provider can read it (docs/training.md, "Secrets and private images").',
      maxItems: 8,
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: dnsSubdomain('spec.imagePullSecrets[].name', "Name of the Secret, in the job's namespace."),
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    replicas: {
      type: 'integer',
      format: 'int32',
      description: 'Number of pods in the gang. All replicas land in one provider cluster or none do.',
      default: 1,
      maximum: 128,
      'x-kubernetes-validations': [{ rule: 'self >= 1', message: 'spec.replicas must be at least 1' }],
    },
    priority: {
      type: 'integer',
      format: 'int32',
      description:
        "Order in the hub's queue: a higher value is placed first when capacity is short; equal priorities go by creation time. A job that ran before (a preemption's replacement) goes ahead of every new job whatever its priority. From -1000 to 1000.",
      default: 0,
      minimum: -1000,
      maximum: 1000,
    },
    resources: {
      type: 'object',
      description: 'What each replica requests.',
      default: {},
      properties: {
        gpus: {
          type: 'integer',
          format: 'int32',
          description: "Whole GPUs (nvidia.com/gpu) per replica, all on the replica's node.",
          default: 1,
          maximum: 64,
          'x-kubernetes-validations': [{ rule: 'self >= 1', message: 'spec.resources.gpus must be at least 1 (whole GPUs per replica)' }],
        },
        cpu: positiveQuantity(
          'spec.resources.cpu',
          "CPU request per replica; the provider's defaults apply when unset. At most 1024 (the hub may set a lower maximum).",
          '1024',
        ),
        memory: positiveQuantity(
          'spec.resources.memory',
          "Memory request per replica; the provider's defaults apply when unset. At most 16Ti (the hub may set a lower maximum).",
          '16Ti',
        ),
        shmSize: positiveQuantity(
          'spec.resources.shmSize',
          "Size of each replica's memory-backed /dev/shm (PyTorch DataLoader workers share batches through it); its use counts against the replica's memory. Default 8Gi, or spec.resources.memory when that is less. At most 1Ti.",
          '1Ti',
        ),
      },
      'x-kubernetes-validations': [
        {
          rule: `!has(self.shmSize) || !has(self.memory) || !isQuantity(string(self.shmSize)) || !isQuantity(string(self.memory)) || !quantity(string(self.shmSize)).isGreaterThan(quantity(string(self.memory)))`,
          message: "spec.resources.shmSize must not exceed spec.resources.memory: /dev/shm is counted against the replica's memory",
        },
      ],
    },
    gpu: {
      type: 'object',
      description: 'Which GPUs are acceptable, matched against GPU Feature Discovery node labels. Any NVIDIA GPU when unset.',
      properties: {
        products: {
          type: 'array',
          description: 'Acceptable nvidia.com/gpu.product label values, e.g. NVIDIA-H100-80GB-HBM3. Any product when unset.',
          maxItems: 32,
          items: {
            type: 'string',
            maxLength: 63,
            'x-kubernetes-validations': [
              {
                rule: `self.matches('${LABEL_VALUE_PATTERN}') && self != ''`,
                message: 'spec.gpu.products[] must be a non-empty label value, e.g. NVIDIA-H100-80GB-HBM3',
              },
            ],
          },
          'x-kubernetes-list-type': 'set',
        },
        minMemoryMiB: {
          type: 'integer',
          format: 'int32',
          description: 'Minimum GPU memory in MiB (the nvidia.com/gpu.memory label).',
          minimum: 1,
          maximum: 4194304,
        },
        minComputeCapability: {
          type: 'string',
          description: 'Minimum CUDA compute capability as major.minor, e.g. "8.0" (nvidia.com/gpu.compute.major/minor labels).',
          maxLength: 5,
          'x-kubernetes-validations': [
            { rule: `self.matches('^[0-9]{1,2}[.][0-9]$')`, message: 'spec.gpu.minComputeCapability must be major.minor, e.g. "8.0"' },
          ],
        },
      },
      'x-kubernetes-validations': [
        { rule: '!has(self.products) || size(self.products) > 0', message: 'spec.gpu.products must not be empty: leave it out to accept any product' },
      ],
    },
    inputs: {
      type: 'array',
      description: 'Content-addressed inputs, fetched before the job starts and mounted read-only.',
      maxItems: 32,
      items: {
        type: 'object',
        required: ['name', 'cid', 'mountPath'],
        properties: {
          name: dnsLabel('spec.inputs[].name', "Input name, unique in the job; also names the input in the job's environment."),
          cid: cid('spec.inputs[].cid', 'IPFS content identifier of the input (a file or a directory).'),
          mountPath: absolutePath('spec.inputs[].mountPath', 'Where the input appears in every replica.'),
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      'x-kubernetes-validations': [
        { rule: 'self.all(i, self.exists_one(j, j.mountPath == i.mountPath))', message: 'spec.inputs[].mountPath values must be unique' },
      ],
    },
    output: {
      type: 'object',
      description: 'Where the job writes its result; the directory is added to IPFS and its CID recorded in status.outputCID.',
      default: {},
      properties: {
        path: { ...absolutePath('spec.output.path', "Directory in the replica whose content is the job's output."), default: '/flotilla/output' },
        pin: { type: 'boolean', description: "Pin the output on the hub's IPFS node.", default: true },
      },
    },
    checkpoint: {
      type: 'object',
      description:
        'Periodic checkpoints, so a preempted job resumes instead of restarting. Billing of a preempted attempt covers work up to its last pinned checkpoint.',
      required: ['path'],
      properties: {
        path: absolutePath('spec.checkpoint.path', 'Directory the job writes checkpoints to and finds the latest one in on resume.'),
        every: {
          ...duration('spec.checkpoint.every', 'Expected interval between checkpoints; placement uses it to estimate rework after a preemption.', '30s'),
          default: '10m',
        },
        marker: {
          type: 'string',
          description:
            'With the job agent (docs/agent.md): a file name that marks a checkpoint complete — only a checkpoint directory containing this file is added and reported. Unset: a checkpoint counts once it has stopped changing. Set it when the trainer writes checkpoints in place rather than by rename.',
          maxLength: 255,
          pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]*$',
        },
      },
    },
    payment: {
      type: 'object',
      description: 'What the submitter pays with and at most how much; the escrow deposit must cover maxAmount.',
      required: ['token', 'maxAmount'],
      properties: {
        token: {
          type: 'string',
          description: 'ERC-20 token: a symbol the operator is configured with (USDC, DAI) or a contract address.',
          maxLength: 42,
          'x-kubernetes-validations': [
            { rule: `self.matches('${TOKEN_PATTERN}')`, message: 'spec.payment.token must be a token symbol such as USDC or DAI, or a 0x contract address' },
          ],
        },
        maxAmount: positiveDecimal('spec.payment.maxAmount', 'Most the job may cost in total, in token units (not base units), e.g. "250".'),
        maxPricePerGpuHour: positiveDecimal(
          'spec.payment.maxPricePerGpuHour',
          'Most the job pays per GPU-hour, in token units; providers above it are not considered.',
        ),
      },
    },
    placement: {
      type: 'object',
      description: 'Constraints on which providers may run the job.',
      properties: {
        allowedProviders: providerNames('spec.placement.allowedProviders', 'Only these GPUProviders may run the job. All when unset.'),
        deniedProviders: providerNames('spec.placement.deniedProviders', 'These GPUProviders never run the job.'),
        regions: {
          type: 'array',
          description: 'Acceptable GPUProvider spec.region values. All when unset.',
          maxItems: 32,
          items: { type: 'string', maxLength: 63 },
          'x-kubernetes-list-type': 'set',
        },
        minReputation: {
          type: 'number',
          description: 'Minimum provider reputation score in [0, 1]: the share of its finished attempts that completed rather than being preempted or failing.',
          minimum: 0,
          maximum: 1,
        },
      },
      'x-kubernetes-validations': [
        {
          rule: '!has(self.allowedProviders) || !has(self.deniedProviders) || !self.allowedProviders.exists(p, p in self.deniedProviders)',
          message: 'spec.placement: a provider cannot be both allowed and denied',
        },
      ],
    },
    recovery: {
      type: 'object',
      description: 'What happens when an attempt is preempted or its provider is lost.',
      default: {},
      properties: {
        maxRestarts: {
          type: 'integer',
          format: 'int32',
          description: 'Attempts after the first before the job fails.',
          default: 3,
          minimum: 0,
          maximum: 100,
        },
        strategy: {
          type: 'string',
          description:
            'Failover: place the next attempt anywhere but the preempting provider (cooled down). SameProviderFirst: retry the same provider first when it has room again.',
          enum: RECOVERY_STRATEGIES,
          default: 'Failover',
        },
      },
    },
    verification: {
      type: 'object',
      description:
        "Re-execution of the job on an independent provider before its providers are paid (docs/verification.md). Unset fields take the namespace's flotilla.dev/verification-* annotations, then the hub's defaults.",
      properties: {
        mode: {
          type: 'string',
          enum: VERIFICATION_MODES,
          description:
            'None: never re-executed. SpotCheck: re-executed when drawn, with probability sampleRate, by the operator alone. Always: every run is re-executed.',
        },
        sampleRate: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          description: 'SpotCheck: the probability that a run is re-executed, in [0, 1].',
        },
        compare: {
          type: 'string',
          enum: VERIFICATION_COMPARISONS,
          description:
            'Exact (default): the re-execution must produce the same output CID (deterministic jobs); a mismatch is broken by a third run. Checker: when the outputs differ, spec.verification.checker judges the original against the re-execution (training whose bits differ run to run).',
        },
        checker: {
          type: 'object',
          description:
            "Checker mode: a container run with the job's inputs plus both outputs, mounted read-only at /flotilla/verify/original and /flotilla/verify/reference. Exit 0 accepts the original output, exit 1 rejects it (the original run is refuted); any other end is no verdict and the check runs again elsewhere.",
          required: ['image'],
          properties: {
            image: {
              type: 'string',
              description: 'Container image of the checker.',
              maxLength: 512,
              'x-kubernetes-validations': [
                {
                  rule: `self.matches('${IMAGE_REFERENCE_PATTERN}')`,
                  message: 'spec.verification.checker.image must be an image reference: registry/name[:tag][@algorithm:digest]',
                },
              ],
            },
            command: {
              type: 'array',
              maxItems: 64,
              items: { type: 'string', maxLength: 4096 },
              'x-kubernetes-list-type': 'atomic',
              description: "Entrypoint; the image's when empty.",
            },
            args: {
              type: 'array',
              maxItems: 256,
              items: { type: 'string', maxLength: 4096 },
              'x-kubernetes-list-type': 'atomic',
              description: "Arguments; the image's when empty.",
            },
          },
        },
        window: duration(
          'spec.verification.window',
          'How long after the run ends its verification may take; past it the run is paid unverified (condition Verified, reason Expired). Default 1h.',
          '1m',
        ),
      },
      'x-kubernetes-validations': [
        {
          rule: "!has(self.compare) || self.compare != 'Checker' || has(self.checker)",
          message: 'spec.verification.checker is required when spec.verification.compare is Checker',
        },
      ],
    },
    deadline: userTimestamp('spec.deadline', 'Time after which the job is failed if not finished (RFC 3339).'),
    callbackURL: {
      type: 'string',
      description: "URL the operator POSTs the job's final status to.",
      maxLength: 2048,
      'x-kubernetes-validations': [
        { rule: `isURL(self) && url(self).getScheme() in ['http', 'https']`, message: 'spec.callbackURL must be an absolute http or https URL' },
      ],
    },
    podAnnotations: {
      type: 'object',
      description: "Annotations copied onto every pod of the job, e.g. sim.flotilla.dev/run-seconds for the local federation's simulated executor.",
      maxProperties: 32,
      additionalProperties: { type: 'string', maxLength: 4096 },
      'x-kubernetes-validations': [
        { rule: `self.all(k, !k.startsWith('flotilla.dev/'))`, message: 'spec.podAnnotations: keys under flotilla.dev/ are reserved for the operator' },
        // Key syntax (a qualified name) is judged by the webhook and the operator
        // (core/validation/runnable.ts): a map key has no maxLength, so a CEL matches() over every
        // key is estimated far beyond the apiserver's cost budget.
      ],
    },
  },
  'x-kubernetes-validations': [...immutabilityRules(), ...pathOverlapRules()],
} as const satisfies SchemaProps;

/** An attempt of the job, by index and provider (the verdict's liar and verifier). */
const attemptRef = (description: string) =>
  ({
    type: 'object',
    description,
    required: ['attempt', 'provider'],
    properties: {
      attempt: { type: 'integer', format: 'int32', minimum: 0 },
      provider: { type: 'string', maxLength: 253 },
    },
  }) as const;

const attemptSchema = {
  type: 'object',
  description: 'One placement of the gang on one provider, from creation of its pods until they ended.',
  required: ['index', 'provider'],
  properties: {
    index: { type: 'integer', format: 'int32', minimum: 0, description: 'Attempt number, 0 for the first; it labels the pods (flotilla.dev/attempt).' },
    provider: { type: 'string', maxLength: 253, description: 'GPUProvider that ran the attempt.' },
    nodes: { type: 'array', maxItems: 128, items: { type: 'string', maxLength: 253 }, description: 'Provider nodes the replicas were bound to.' },
    startTime: timestamp("When the attempt's pods were created."),
    endTime: timestamp('When the attempt ended; unset while it runs.'),
    gpuSeconds: { type: 'integer', format: 'int64', minimum: 0, description: 'GPU-seconds consumed (GPUs × seconds running).' },
    billableGpuSeconds: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'GPU-seconds billed: all of them for a finished attempt, up to the last pinned checkpoint for a preempted one.',
    },
    reason: {
      type: 'string',
      maxLength: 128,
      description: 'Why the attempt ended, e.g. Succeeded, Failed, DisruptionTarget, PodDeleted, NodeLost, NodeReclaimed, BindTimeout, ProviderUnreachable.',
    },
    message: { type: 'string', maxLength: 4096, description: 'Human-readable detail of reason.' },
    checkpointCID: { type: 'string', maxLength: 128, description: 'Last checkpoint pinned during the attempt; the next attempt resumes from it.' },
    checkpointTime: timestamp(
      "When the replicas reported checkpointCID, never later than the hub's clock at the report; a preempted attempt is billed up to this instant.",
    ),
    pricePerGpuHour: decimal("The provider's price per GPU-hour for the attempt's product when it was placed, in token units."),
    purpose: {
      type: 'string',
      enum: ATTEMPT_PURPOSES,
      description:
        "Run (also when unset): the job's own work. Verification: a re-execution on an independent provider. Tiebreak: a third run when those two disagreed.",
    },
    outputCID: { type: 'string', maxLength: 128, description: 'Output CID the attempt reported when all its replicas completed.' },
    logTailCID: {
      type: 'string',
      maxLength: 128,
      description:
        "Folder of the last lines of each replica's log (r<replica>.log), read from the provider when the attempt closed and pinned on the hub's IPFS node; unset when none could be read.",
    },
    pods: {
      type: 'array',
      maxItems: 128,
      description:
        "The pods the operator created for this attempt, by replica: only these count (a pod with Flotilla's labels but another uid is the provider's own and ignored).",
      items: {
        type: 'object',
        required: ['replica', 'name', 'uid'],
        properties: {
          replica: { type: 'integer', format: 'int32', minimum: 0 },
          name: { type: 'string', maxLength: 253 },
          uid: { type: 'string', maxLength: 64 },
          createdAt: timestamp('When the hub saw the create acknowledged (or, after a crash, first saw the pod): the earliest instant it is billed from.'),
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['replica'],
    },
  },
} as const;

export const aiJobStatusSchema = {
  type: 'object',
  description: 'Observed state, written only by the operator.',
  properties: {
    phase: { type: 'string', enum: AIJOB_PHASES, description: 'Summary for humans; controllers decide from conditions.' },
    conditions: conditionsSchema,
    observedGeneration: observedGenerationSchema,
    placement: {
      type: 'object',
      description: 'Where the current attempt runs.',
      properties: {
        provider: { type: 'string', maxLength: 253, description: 'GPUProvider of the current attempt.' },
        nodes: { type: 'array', maxItems: 128, items: { type: 'string', maxLength: 253 }, description: 'Node chosen for each replica, by replica index.' },
        product: { type: 'string', maxLength: 128, description: 'GPU product (GFD nvidia.com/gpu.product) the pods are pinned to.' },
        resourceName: { type: 'string', maxLength: 128, description: 'Extended resource each pod requests: nvidia.com/gpu, or a MIG/shared resource.' },
        pricePerGpuHour: decimal("The provider's price for the product when the attempt was placed, in token units."),
        nodeSelector: {
          type: 'array',
          maxItems: 8,
          description: "Node-affinity requirements the pods carry (product and GPU memory as the provider's node labels say them).",
          items: {
            type: 'object',
            required: ['key', 'operator', 'values'],
            properties: {
              key: { type: 'string', maxLength: 317 },
              operator: { type: 'string', enum: ['In', 'Gt'] },
              values: { type: 'array', maxItems: 16, items: { type: 'string', maxLength: 128 } },
            },
          },
        },
      },
    },
    attempts: {
      type: 'array',
      description: 'Every attempt so far, oldest first.',
      maxItems: 128,
      items: attemptSchema,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['index'],
    },
    startTime: timestamp('When the first attempt started.'),
    completionTime: timestamp('When the job reached Succeeded or Failed.'),
    outputCID: { type: 'string', maxLength: 128, description: "CID of the job's output directory." },
    verification: {
      type: 'object',
      description: 'Whether the run is re-executed, and the verdict (docs/verification.md).',
      properties: {
        state: {
          type: 'string',
          enum: VERIFICATION_STATES,
          description:
            'Unsampled: not re-executed. Pending: a re-execution is under way. Verified: an independent run agreed. Refuted: the original run was proven wrong. Inconclusive: no two runs agreed. Expired: the window ended first.',
        },
        windowEndsAt: timestamp('When the verification window ends (the run is paid unverified after it).'),
        compare: { type: 'string', enum: VERIFICATION_COMPARISONS, description: 'How the runs are compared, fixed when the verification started.' },
        originalCID: { type: 'string', maxLength: 128, description: 'The output the original run reported.' },
        liar: attemptRef('The attempt proven to have reported a wrong output: it is not paid, and its provider is slashed and distrusted.'),
        verifier: attemptRef("The run whose output proved the liar wrong: its provider's payout address gets the verifier's half of the slash."),
        message: { type: 'string', maxLength: 1024, description: 'The verdict in words.' },
      },
    },
    receiptCID: {
      type: 'string',
      maxLength: 128,
      description: 'CID of the signed provenance receipt (inputs, image digest, provider, attempts, output, settlement).',
    },
    callbacks: {
      type: 'array',
      description: 'spec.callbackURL deliveries, one per terminal phase. A phase listed here is never called back again, whatever spec.callbackURL becomes.',
      maxItems: 8,
      items: {
        type: 'object',
        required: ['phase', 'outcome'],
        properties: {
          phase: { type: 'string', maxLength: 32, description: 'The terminal phase called back (Succeeded, Failed, Settled).' },
          outcome: {
            type: 'string',
            enum: ['Delivered', 'Failed', 'Refused'],
            description: 'Delivered: answered 2xx. Failed: no 2xx after the retries. Refused: the URL is not allowed (internal address, credentials, …).',
          },
          code: { type: 'integer', minimum: 0, maximum: 999, description: 'HTTP status of the last answer, when there was one.' },
          time: timestamp('When the outcome was decided.'),
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['phase'],
    },
    funding: {
      type: 'object',
      description: 'The escrow deposit that funds the job.',
      properties: {
        escrowJobId: {
          type: 'string',
          maxLength: 66,
          pattern: BYTES32_PATTERN,
          description: 'Job id in the escrow contract (bytes32, 0x + 64 hex), derived from the job uid.',
        },
        deposited: decimal('Amount deposited, in token units.'),
      },
    },
    cost: {
      type: 'object',
      description: 'What the job costs so far (final once Succeeded or Failed).',
      properties: {
        amount: decimal('Cost in token units.'),
        token: { type: 'string', maxLength: 42, pattern: TOKEN_PATTERN, description: 'Token of amount.' },
      },
    },
    settlement: {
      type: 'object',
      description: 'The escrow settlement. id is written before the transaction is sent so a restart never settles twice.',
      properties: {
        id: { type: 'string', maxLength: 66, pattern: BYTES32_PATTERN, description: 'Settlement id (bytes32), derived from the job uid.' },
        txHash: { type: 'string', maxLength: 66, pattern: BYTES32_PATTERN, description: 'Hash of the settling transaction.' },
        amounts: {
          type: 'array',
          description: 'What each provider is paid.',
          maxItems: 128,
          items: {
            type: 'object',
            required: ['provider', 'amount'],
            properties: {
              provider: { type: 'string', maxLength: 253, description: 'GPUProvider name.' },
              payoutAddress: { type: 'string', maxLength: 42, pattern: ADDRESS_PATTERN, description: 'Address credited.' },
              amount: decimal('Amount in token units.'),
            },
          },
        },
        refund: decimal('Amount refundable to the payer, in token units.'),
        slash: {
          type: 'object',
          description: "The bond slashed from the provider of status.verification.liar, half to the payer and half to the verifying run's provider.",
          properties: {
            provider: { type: 'string', maxLength: 253, description: 'GPUProvider slashed.' },
            payoutAddress: { type: 'string', maxLength: 42, pattern: ADDRESS_PATTERN, description: 'Its bonded address.' },
            verifier: { type: 'string', maxLength: 42, pattern: ADDRESS_PATTERN, description: 'Address credited the verifier half.' },
            amount: decimal('Amount slashed, in token units.'),
            txHash: { type: 'string', maxLength: 66, pattern: BYTES32_PATTERN, description: 'Hash of the slashing transaction.' },
          },
        },
      },
    },
  },
} as const satisfies SchemaProps;
