// The flotilla.dev/v1alpha1 API: names, TypeScript types, schemas, conditions and CRDs.
export * from './group.ts';
export type * from './types.ts';
export * from './conditions.ts';
export { aiJobSpecSchema, aiJobStatusSchema, AIJOB_PHASES, AIJOB_IMMUTABLE_FIELDS, RECOVERY_STRATEGIES } from './aijob-schema.ts';
export {
  gpuProviderSpecSchema,
  gpuProviderStatusSchema,
  DEFAULT_KUBECONFIG_KEY,
  DEFAULT_PRIORITY_CLASS_NAME,
  DEFAULT_PROVIDER_NAMESPACE,
} from './gpuprovider-schema.ts';
export { ADDRESS_PATTERN, BYTES32_PATTERN, CID_PATTERN, DECIMAL_PATTERN, TOKEN_PATTERN } from './field-schemas.ts';
export { aiJobCrd, gpuProviderCrd, crds, AIJOB_NAME_MAX_LENGTH } from './crds.ts';
export type { CustomResourceDefinition, PrinterColumn } from './crds.ts';
