// The GPUProvider spec and status schemas: one object per provider cluster, written by whoever
// onboards the provider (spec) and by the provider connection controller (status).
import {
  conditionsSchema,
  dnsLabel,
  dnsSubdomain,
  observedGenerationSchema,
  positiveDecimal,
  timestamp,
  ADDRESS_PATTERN,
  LABEL_VALUE_PATTERN,
} from './field-schemas.ts';
import type { SchemaProps } from './schema-types.ts';

export const DEFAULT_PROVIDER_NAMESPACE = 'flotilla-workloads';
export const DEFAULT_PRIORITY_CLASS_NAME = 'flotilla-lent';
export const DEFAULT_KUBECONFIG_KEY = 'kubeconfig';

const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

export const gpuProviderSpecSchema = {
  type: 'object',
  description: 'How to reach a provider cluster, what it charges and how much of it may be used.',
  required: ['kubeconfigSecretRef', 'payoutAddress', 'prices'],
  properties: {
    kubeconfigSecretRef: {
      type: 'object',
      description: "Secret in the hub holding a kubeconfig for the provider's namespaced ServiceAccount.",
      required: ['name', 'namespace'],
      properties: {
        name: dnsSubdomain('spec.kubeconfigSecretRef.name', 'Secret name.'),
        namespace: dnsLabel('spec.kubeconfigSecretRef.namespace', 'Secret namespace in the hub.'),
        key: {
          type: 'string',
          description: "Key of the kubeconfig in the Secret's data.",
          default: DEFAULT_KUBECONFIG_KEY,
          maxLength: 253,
          'x-kubernetes-validations': [
            { rule: `self.matches('^[-._a-zA-Z0-9]+$')`, message: "spec.kubeconfigSecretRef.key must be a Secret data key: letters, digits, '-', '_' and '.'" },
          ],
        },
      },
    },
    namespace: {
      ...dnsLabel('spec.namespace', 'Namespace in the provider cluster where job pods run.'),
      default: DEFAULT_PROVIDER_NAMESPACE,
    },
    region: {
      type: 'string',
      description: "Where the provider is, matched against an AIJob's spec.placement.regions, e.g. eu-west.",
      maxLength: 63,
      'x-kubernetes-validations': [
        { rule: `self.matches('${LABEL_VALUE_PATTERN}') && self != ''`, message: 'spec.region must be a non-empty label value, e.g. eu-west' },
      ],
    },
    payoutAddress: {
      type: 'string',
      description: "Address the escrow contract credits for this provider's work.",
      maxLength: 42,
      'x-kubernetes-validations': [
        { rule: `self.matches('${ADDRESS_PATTERN}')`, message: 'spec.payoutAddress must be an EVM address: 0x followed by 40 hex digits' },
        { rule: `self != '${ZERO_ADDRESS}'`, message: 'spec.payoutAddress must not be the zero address' },
      ],
    },
    prices: {
      type: 'array',
      description: 'Price per GPU-hour of each GPU product the provider lends; products without a price are not lent.',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['gpuProduct', 'pricePerGpuHour'],
        properties: {
          gpuProduct: {
            type: 'string',
            description: 'nvidia.com/gpu.product label value, e.g. NVIDIA-H100-80GB-HBM3.',
            maxLength: 63,
            'x-kubernetes-validations': [
              {
                rule: `self.matches('${LABEL_VALUE_PATTERN}') && self != ''`,
                message: 'spec.prices[].gpuProduct must be a non-empty label value, e.g. NVIDIA-H100-80GB-HBM3',
              },
            ],
          },
          pricePerGpuHour: positiveDecimal('spec.prices[].pricePerGpuHour', 'Price of one GPU for one hour, in token units, e.g. "2.50".'),
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['gpuProduct'],
      'x-kubernetes-validations': [{ rule: 'size(self) > 0', message: 'spec.prices must list the price of at least one GPU product' }],
    },
    maxGpus: {
      type: 'integer',
      format: 'int32',
      description: "Most GPUs Flotilla uses at once in this provider; no cap beyond the provider's quota when unset.",
      minimum: 0,
      maximum: 1000000,
    },
    cordoned: {
      type: 'boolean',
      description: 'No new attempts are placed here; running ones continue.',
      default: false,
    },
    priorityClassName: {
      ...dnsSubdomain('spec.priorityClassName', "PriorityClass of job pods in the provider, low so the provider's own work preempts ours."),
      default: DEFAULT_PRIORITY_CLASS_NAME,
    },
    ipfsGateway: {
      type: 'string',
      description: "IPFS HTTP gateway reachable from the provider's pods, used to fetch inputs; the operator's default when unset.",
      maxLength: 2048,
      'x-kubernetes-validations': [
        { rule: `isURL(self) && url(self).getScheme() in ['http', 'https']`, message: 'spec.ipfsGateway must be an absolute http or https URL' },
      ],
    },
    ipfsApi: {
      type: 'string',
      description:
        "Kubo RPC API reachable from the provider's pods (the provider's own IPFS node, which the hub's node pins from): the job agent sidecar adds checkpoints and outputs there. The operator's FLOTILLA_AGENT_IPFS_API when unset; with neither, pods get no agent and report through the termination message themselves.",
      maxLength: 2048,
      'x-kubernetes-validations': [
        { rule: `isURL(self) && url(self).getScheme() in ['http', 'https']`, message: 'spec.ipfsApi must be an absolute http or https URL' },
      ],
    },
    ipfsApiAuthSecret: dnsSubdomain(
      'spec.ipfsApiAuthSecret',
      "Secret in spec.namespace at the provider whose key `authorization` is the Authorization header the job agent sends to spec.ipfsApi (e.g. `Bearer <token>` of a Kubo API.Authorizations entry allowed only /api/v0/add and /api/v0/block/get). Only the agent container reads it: the job's own containers, which share the pod's network, cannot use the API. The operator's FLOTILLA_AGENT_IPFS_API_AUTH_SECRET when unset.",
    ),
  },
} as const satisfies SchemaProps;

const count = (description: string) => ({ type: 'integer', format: 'int32', minimum: 0, description }) as const;
const count64 = (description: string) => ({ type: 'integer', format: 'int64', minimum: 0, description }) as const;

export const gpuProviderStatusSchema = {
  type: 'object',
  description: 'Observed state of the provider cluster, written only by the operator.',
  properties: {
    conditions: conditionsSchema,
    observedGeneration: observedGenerationSchema,
    inventory: {
      type: 'array',
      description: 'GPUs per product on schedulable nodes (cordoned and unschedulable nodes excluded).',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['product'],
        properties: {
          product: { type: 'string', maxLength: 63, description: 'nvidia.com/gpu.product label value.' },
          memoryMiB: count('GPU memory in MiB (nvidia.com/gpu.memory).'),
          nodes: count('Schedulable nodes with this product.'),
          allocatable: count("Sum of the nodes' allocatable nvidia.com/gpu."),
          free: count('allocatable minus the GPU requests of non-terminated pods.'),
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['product'],
    },
    allocatableGpus: count('Sum of inventory[].allocatable, for the printer column.'),
    freeGpus: count('Sum of inventory[].free, for the printer column.'),
    reputation: {
      type: 'object',
      description: "How attempts placed here ended; the placement engine's preemption hazard comes from it.",
      properties: {
        completed: count64("Attempts that ran to completion (succeeded, or failed through the job's own fault)."),
        preempted: count64('Attempts ended by the provider: preemption, eviction, node loss, reclaim, unreachability.'),
        failed: count64("Attempts that failed through the provider's fault (e.g. pods never bound)."),
        violations: count64("Pods the provider made itself with a job's labels (flotilla.dev/attempt, …): ignored, deleted, and each also counted in failed."),
        provenMismatches: count64(
          'Runs here proven to have reported a wrong output by independent re-execution (docs/verification.md): one is enough to keep the provider from every job that asks for verification.',
        ),
        gpuSeconds: count64('GPU-seconds run here, the exposure preemptionsPerGpuHour is measured over.'),
        meanTimeToPreemptionSeconds: count64("Mean seconds from an attempt's start to its preemption."),
        preemptionsPerGpuHour: {
          type: 'number',
          minimum: 0,
          description:
            'Preemption hazard per GPU-hour: (decayedPreemptions + 1) ÷ (decayedGpuHours + 100), i.e. the observed rate smoothed toward a prior of 1 per 100 GPU-hours.',
        },
        decayedPreemptions: { type: 'number', minimum: 0, description: 'Preemptions seen here, each weighted by ½ per half-life (72 h) of age.' },
        decayedGpuHours: { type: 'number', minimum: 0, description: 'GPU-hours run here, weighted like decayedPreemptions.' },
        updatedAt: { type: 'string', format: 'date-time', description: 'When an attempt outcome was last folded in (the decay reference).' },
        revision: count64(
          "Outcomes and penalties folded in so far, counted by the reputation writer: its compare-and-swap (a JSON patch that tests it), so that the GPUProvider controller's writes of other status fields never refuse a reputation write.",
        ),
      },
    },
    lastSeen: timestamp("When the provider's API server last answered."),
  },
} as const satisfies SchemaProps;
