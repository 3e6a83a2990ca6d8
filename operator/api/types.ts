// TypeScript types of both kinds, derived from their schemas (see schema-types.ts), so a field added
// to a schema appears here and a field the schema lacks cannot be written by the operator.
// Two views: the stored one (what the apiserver returns; defaulted fields always present) and the
// submitted one (what a client may send; defaulted fields optional).
import type { aiJobSpecSchema, aiJobStatusSchema } from './aijob-schema.ts';
import type { conditionSchema } from './field-schemas.ts';
import type { gpuProviderSpecSchema, gpuProviderStatusSchema } from './gpuprovider-schema.ts';
import type { AIJOB, API_VERSION, GPUPROVIDER } from './group.ts';
import type { FromSchema } from './schema-types.ts';

/** The metadata fields the operator reads and writes; timestamps are RFC 3339 strings as on the wire. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

export type Condition = FromSchema<typeof conditionSchema>;

export type AIJobSpec = FromSchema<typeof aiJobSpecSchema, 'stored'>;
export type AIJobSpecInput = FromSchema<typeof aiJobSpecSchema, 'submitted'>;
export type AIJobStatus = FromSchema<typeof aiJobStatusSchema>;
export type AIJobPhase = NonNullable<AIJobStatus['phase']>;
export type AIJobAttempt = NonNullable<AIJobStatus['attempts']>[number];
export type AIJobInputArtifact = NonNullable<AIJobSpec['inputs']>[number];
export type AIJobPayment = AIJobSpec['payment'];
export type AIJobPlacementConstraints = NonNullable<AIJobSpec['placement']>;
export type AIJobSettlement = NonNullable<AIJobStatus['settlement']>;
export type RecoveryStrategy = AIJobSpec['recovery']['strategy'];

/** An AIJob as the apiserver returns it. */
export interface AIJob {
  apiVersion: typeof API_VERSION;
  kind: typeof AIJOB.kind;
  metadata: ObjectMeta;
  spec: AIJobSpec;
  status?: AIJobStatus;
}

/** An AIJob as a client may create it (the CLI, examples, tests). */
export interface AIJobManifest {
  apiVersion: typeof API_VERSION;
  kind: typeof AIJOB.kind;
  metadata: ObjectMeta;
  spec: AIJobSpecInput;
}

export type GPUProviderSpec = FromSchema<typeof gpuProviderSpecSchema, 'stored'>;
export type GPUProviderSpecInput = FromSchema<typeof gpuProviderSpecSchema, 'submitted'>;
export type GPUProviderStatus = FromSchema<typeof gpuProviderStatusSchema>;
export type GPUPrice = GPUProviderSpec['prices'][number];
export type GPUInventoryEntry = NonNullable<GPUProviderStatus['inventory']>[number];
export type ProviderReputation = NonNullable<GPUProviderStatus['reputation']>;

/** A GPUProvider as the apiserver returns it. */
export interface GPUProvider {
  apiVersion: typeof API_VERSION;
  kind: typeof GPUPROVIDER.kind;
  metadata: ObjectMeta;
  spec: GPUProviderSpec;
  status?: GPUProviderStatus;
}

/** A GPUProvider as a client may create it (registration, Pulumi). */
export interface GPUProviderManifest {
  apiVersion: typeof API_VERSION;
  kind: typeof GPUPROVIDER.kind;
  metadata: ObjectMeta;
  spec: GPUProviderSpecInput;
}
