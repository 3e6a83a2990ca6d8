// What the apiserver does to a custom resource on create or update, approximated for unit tests
// of the schemas: apply defaults, reject unknown fields (kubectl's strict field validation),
// check the OpenAPI constraints, then, unless one of those errors is blocking, evaluate the CEL
// rules (transition rules only against an old object). Errors carry the field path like the
// apiserver's; kube-apiserver 1.36 was seen to skip CEL after a wrong type or format, a missing
// required field or a value outside an enum, but not after a violated bound.
// Lives in test/support/, the one home of test-support code: unit tests beside the operator's code,
// the integration suites under test/ and bench/ all import it from here (test/support/local-validation/), and shipped code
// (operator/, cli/, pulumi/) may not (eslint.config.js; operator/boundaries.test.ts).
import type { SchemaProps } from '../../../operator/api/schema-types.ts';
import { ruleHolds } from './cel.ts';

export interface FieldError {
  /** e.g. `spec.inputs[0].cid` */
  readonly path: string;
  readonly message: string;
  /** Stops CEL evaluation, as in the apiserver. */
  readonly blocking?: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);
const child = (path: string, name: string): string => (path === '' ? name : `${path}.${name}`);

/** Fills in `default`s bottom-up from the parent: a defaulted object gets its own fields' defaults. */
export function applyDefaults(schema: SchemaProps, value: unknown): unknown {
  if (Array.isArray(value) && schema.items) return value.map((v) => applyDefaults(schema.items ?? {}, v));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (out[name] === undefined && child.default !== undefined) out[name] = clone(child.default);
    if (out[name] !== undefined) out[name] = applyDefaults(child, out[name]);
  }
  if (schema.additionalProperties) {
    for (const k of Object.keys(out)) out[k] = applyDefaults(schema.additionalProperties, out[k]);
  }
  return out;
}

const RFC3339 = /^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$/;

function typeMatches(schema: SchemaProps, v: unknown): boolean {
  if (schema['x-kubernetes-int-or-string'] === true) return typeof v === 'string' || Number.isInteger(v);
  switch (schema.type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case undefined:
      return true;
    default:
      return false;
  }
}

/** OpenAPI constraints and unknown fields; does not evaluate CEL. */
export function validateOpenApi(schema: SchemaProps, v: unknown, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const err = (message: string, at = path, blocking = false): void => {
    errors.push({ path: at, message, blocking });
  };
  if (!typeMatches(schema, v)) {
    return [{ path, message: `Invalid value: must be of type ${schema.type ?? 'integer or string'}`, blocking: true }];
  }
  if (schema.enum && !schema.enum.includes(v as string | number)) err(`Unsupported value: supported values: ${schema.enum.join(', ')}`, path, true);
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) err(`should be greater than or equal to ${schema.minimum}`);
    if (schema.maximum !== undefined && v > schema.maximum) err(`should be less than or equal to ${schema.maximum}`);
  }
  if (typeof v === 'string') {
    const length = [...v].length;
    if (schema.minLength !== undefined && length < schema.minLength) err(`should be at least ${schema.minLength} chars long`);
    if (schema.maxLength !== undefined && length > schema.maxLength) err(`may not be more than ${schema.maxLength} bytes`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(v)) err(`should match '${schema.pattern}'`);
    if (schema.format === 'date-time' && !RFC3339.test(v)) err('must be of type date-time (RFC 3339)', path, true);
  }
  if (Array.isArray(v)) {
    if (schema.minItems !== undefined && v.length < schema.minItems) err(`should have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && v.length > schema.maxItems) err(`Too many: ${v.length}: must have at most ${schema.maxItems} items`);
    const keyOf = listKey(schema);
    const seen = new Set<string>();
    v.forEach((item, i) => {
      errors.push(...validateOpenApi(schema.items ?? {}, item, `${path}[${i}]`));
      if (keyOf === undefined) return;
      const key = keyOf(item);
      if (seen.has(key)) err(`Duplicate value: ${key}`, `${path}[${i}]`);
      seen.add(key);
    });
  }
  if (isObject(v)) {
    if (schema.maxProperties !== undefined && Object.keys(v).length > schema.maxProperties) err(`must have at most ${schema.maxProperties} properties`);
    for (const name of schema.required ?? []) {
      if (v[name] === undefined) err('Required value', child(path, name), true);
    }
    for (const [name, value] of Object.entries(v)) {
      const childSchema = schema.properties?.[name] ?? schema.additionalProperties;
      if (childSchema !== undefined) errors.push(...validateOpenApi(childSchema, value, child(path, name)));
      else if (schema.properties !== undefined) err(`unknown field "${child(path, name)}"`, child(path, name));
      // An object with neither properties nor additionalProperties is `metadata`, validated by the apiserver itself.
    }
  }
  return errors;
}

function listKey(schema: SchemaProps): ((item: unknown) => string) | undefined {
  const type = schema['x-kubernetes-list-type'];
  if (type === 'set') return (item) => JSON.stringify(item);
  if (type !== 'map') return undefined;
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  return (item) => JSON.stringify(keys.map((k) => (isObject(item) ? item[k] : undefined)));
}

/**
 * Evaluates every CEL rule in the schema against `v`. Transition rules (those mentioning oldSelf)
 * run only where the old object has a value at the same place; list items are matched to old
 * items by their map keys, as the apiserver does, and not at all in other lists.
 */
export function validateCel(schema: SchemaProps, v: unknown, old: unknown, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const { rule, message } of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule);
    if (transition && old === undefined) continue;
    if (!ruleHolds(rule, v, transition ? old : undefined)) errors.push({ path, message });
  }
  if (Array.isArray(v) && schema.items) {
    const keyOf = schema['x-kubernetes-list-type'] === 'map' ? listKey(schema) : undefined;
    const oldByKey = new Map<string, unknown>();
    if (keyOf !== undefined && Array.isArray(old)) for (const o of old) oldByKey.set(keyOf(o), o);
    v.forEach((item, i) => {
      const oldItem = keyOf === undefined ? undefined : oldByKey.get(keyOf(item));
      errors.push(...validateCel(schema.items ?? {}, item, oldItem, `${path}[${i}]`));
    });
  }
  if (isObject(v)) {
    for (const [name, value] of Object.entries(v)) {
      const childSchema = schema.properties?.[name] ?? schema.additionalProperties;
      if (childSchema === undefined) continue;
      const oldChild = isObject(old) ? old[name] : undefined;
      errors.push(...validateCel(childSchema, value, oldChild, child(path, name)));
    }
  }
  return errors;
}

export interface AdmissionResult {
  /** The object as it would be stored: defaults applied. */
  readonly object: unknown;
  readonly errors: readonly FieldError[];
}

/** Admits `obj` (an object whose root schema is `schema`), optionally as an update of `old`. */
export function admit(schema: SchemaProps, obj: unknown, old?: unknown): AdmissionResult {
  const object = applyDefaults(schema, obj);
  const schemaErrors = validateOpenApi(schema, object, '');
  if (schemaErrors.some((e) => e.blocking === true)) return { object, errors: schemaErrors };
  const oldObject = old === undefined ? undefined : applyDefaults(schema, old);
  const celErrors = validateCel(schema, object, oldObject, '');
  return { object, errors: [...schemaErrors, ...celErrors] };
}
