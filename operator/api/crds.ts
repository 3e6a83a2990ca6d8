// Builds the two CustomResourceDefinitions (apiextensions.k8s.io/v1) from the schemas, with the
// status subresource, short names and printer columns. Pure: generate-crds.ts writes the files.
import { aiJobSpecSchema, aiJobStatusSchema } from './aijob-schema.ts';
import { gpuProviderSpecSchema, gpuProviderStatusSchema } from './gpuprovider-schema.ts';
import { AIJOB, CATEGORY, GPUPROVIDER, GROUP, VERSION } from './group.ts';
import type { KindNames } from './group.ts';
import type { SchemaProps, ValidationRule } from './schema-types.ts';

/**
 * Pods are named <job>-<attempt>-<replica> and the name is also a hostname inside the gang, so
 * the job name leaves room for both suffixes within a 63-character DNS label.
 */
export const AIJOB_NAME_MAX_LENGTH = 48;

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  readonly priority?: number;
}

export interface CustomResourceDefinition {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly group: string;
    readonly names: {
      readonly kind: string;
      readonly listKind: string;
      readonly plural: string;
      readonly singular: string;
      readonly shortNames: readonly string[];
      readonly categories: readonly string[];
    };
    readonly scope: 'Namespaced' | 'Cluster';
    readonly versions: readonly {
      readonly name: string;
      readonly served: boolean;
      readonly storage: boolean;
      readonly subresources: { readonly status: Record<string, never> };
      readonly additionalPrinterColumns: readonly PrinterColumn[];
      readonly schema: { readonly openAPIV3Schema: SchemaProps };
    }[];
  };
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

export const aiJobPrinterColumns: readonly PrinterColumn[] = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Lifecycle phase.' },
  { name: 'Provider', type: 'string', jsonPath: '.status.placement.provider', description: 'GPUProvider of the current attempt.' },
  { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Pods in the gang.' },
  { name: 'GPUs', type: 'integer', jsonPath: '.spec.resources.gpus', description: 'GPUs per replica.' },
  { name: 'Cost', type: 'string', jsonPath: '.status.cost.amount', description: 'Cost so far, in token units.' },
  { name: 'Token', type: 'string', jsonPath: '.spec.payment.token', description: 'Payment token.', priority: 1 },
  { name: 'Output', type: 'string', jsonPath: '.status.outputCID', description: 'CID of the output.', priority: 1 },
  { name: 'Verified', type: 'string', jsonPath: '.status.verification.state', description: 'Verification of the run (docs/verification.md).', priority: 1 },
  {
    name: 'Operator',
    type: 'string',
    jsonPath: '.metadata.annotations.flotilla\\.dev/managed-by',
    description: 'The operator that runs the job (annotation flotilla.dev/managed-by).',
    priority: 1,
  },
  age,
];

export const gpuProviderPrinterColumns: readonly PrinterColumn[] = [
  { name: 'Region', type: 'string', jsonPath: '.spec.region', description: 'Provider region.' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether new attempts may be placed here.' },
  { name: 'GPUs', type: 'integer', jsonPath: '.status.allocatableGpus', description: 'Allocatable GPUs on schedulable nodes.' },
  { name: 'Free', type: 'integer', jsonPath: '.status.freeGpus', description: 'GPUs not requested by running pods.' },
  { name: 'Cordoned', type: 'boolean', jsonPath: '.spec.cordoned', description: 'No new attempts are placed here.', priority: 1 },
  {
    name: 'Trusted',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Trusted")].status',
    description: 'No run here was proven wrong by re-execution.',
    priority: 1,
  },
  {
    name: 'Reason',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    description: 'Why the provider is or is not Ready.',
    priority: 1,
  },
  { name: 'Last Seen', type: 'date', jsonPath: '.status.lastSeen', description: 'When its API server last answered.', priority: 1 },
  age,
];

function rootSchema(description: string, spec: SchemaProps, status: SchemaProps, rules: readonly ValidationRule[]): SchemaProps {
  return {
    type: 'object',
    description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this representation of the object.' },
      kind: { type: 'string', description: 'Kind of the object.' },
      metadata: { type: 'object' },
      spec,
      status,
    },
    ...(rules.length > 0 ? { 'x-kubernetes-validations': rules } : {}),
  };
}

function crd(names: KindNames, printerColumns: readonly PrinterColumn[], schema: SchemaProps): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: names.shortNames,
        categories: [CATEGORY],
      },
      scope: names.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

export const aiJobCrd = crd(
  AIJOB,
  aiJobPrinterColumns,
  rootSchema(
    'AIJob is a GPU job submitted to the federation: Flotilla places its gang of pods in one provider cluster, recovers it from preemption, keeps its artifacts on IPFS and settles its cost in a stablecoin.',
    aiJobSpecSchema,
    aiJobStatusSchema,
    [
      {
        rule: `self.metadata.name.size() <= ${AIJOB_NAME_MAX_LENGTH}`,
        message: `metadata.name must be at most ${AIJOB_NAME_MAX_LENGTH} characters, so the pod names of every attempt and replica stay valid`,
      },
    ],
  ),
);

export const gpuProviderCrd = crd(
  GPUPROVIDER,
  gpuProviderPrinterColumns,
  rootSchema(
    'GPUProvider is one provider cluster lending GPUs to the federation: how to reach it, its prices, and its observed inventory and reputation.',
    gpuProviderSpecSchema,
    gpuProviderStatusSchema,
    [],
  ),
);

export const crds: readonly CustomResourceDefinition[] = [aiJobCrd, gpuProviderCrd];

/** File name under crds/, as controller-gen names them. */
export const crdFileName = (c: CustomResourceDefinition): string => `${c.spec.group}_${c.spec.names.plural}.yaml`;
