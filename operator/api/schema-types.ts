// The subset of OpenAPI v3 (apiextensions.k8s.io/v1 JSONSchemaProps) our CRDs use, and a type-level
// function that derives a TypeScript type from a schema literal. Schemas are written once as
// `as const satisfies SchemaProps` objects; the TS types are computed from them, so the CRD and the
// types the operator compiles against cannot drift.

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

/** One `x-kubernetes-validations` entry: a CEL rule evaluated by the apiserver on admission. */
export interface ValidationRule {
  readonly rule: string;
  /** Shown to the user when the rule is false; ours always name the field they are about. */
  readonly message: string;
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  readonly fieldPath?: string;
}

export interface SchemaProps {
  readonly type?: SchemaType;
  readonly description?: string;
  readonly properties?: { readonly [name: string]: SchemaProps };
  readonly required?: readonly string[];
  readonly items?: SchemaProps;
  readonly additionalProperties?: SchemaProps;
  readonly enum?: readonly (string | number)[];
  readonly default?: unknown;
  readonly format?: 'date-time' | 'int32' | 'int64' | 'double';
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly maxProperties?: number;
  readonly anyOf?: readonly SchemaProps[];
  readonly 'x-kubernetes-int-or-string'?: true;
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
  readonly 'x-kubernetes-map-type'?: 'granular' | 'atomic';
  readonly 'x-kubernetes-validations'?: readonly ValidationRule[];
}

/**
 * How a derived type treats fields that have a schema `default`:
 * - `stored`: as the apiserver returns the object — defaulted fields are always present.
 * - `submitted`: as a client may write it — defaulted fields may be left out.
 */
export type SchemaMode = 'stored' | 'submitted';

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type RequiredNames<S> = S extends { readonly required: readonly (infer K)[] } ? K : never;

type DefaultedNames<P> = { [K in keyof P]: P[K] extends { readonly default: unknown } ? K : never }[keyof P];

type PresentNames<S, P, M extends SchemaMode> = (RequiredNames<S> & keyof P) | (M extends 'stored' ? DefaultedNames<P> : never);

type ObjectFromProperties<S, P, M extends SchemaMode> = Simplify<
  { -readonly [K in PresentNames<S, P, M>]: FromSchema<P[K], M> } & {
    -readonly [K in Exclude<keyof P, PresentNames<S, P, M>>]?: FromSchema<P[K], M>;
  }
>;

/** The TypeScript type of values a schema accepts (strings for date-times and decimals). */
export type FromSchema<S, M extends SchemaMode = 'stored'> = S extends { readonly 'x-kubernetes-int-or-string': true }
  ? number | string
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: 'string' }
      ? string
      : S extends { readonly type: 'integer' | 'number' }
        ? number
        : S extends { readonly type: 'boolean' }
          ? boolean
          : S extends { readonly type: 'array'; readonly items: infer I }
            ? FromSchema<I, M>[]
            : S extends { readonly type: 'object'; readonly properties: infer P }
              ? ObjectFromProperties<S, P, M>
              : S extends { readonly type: 'object'; readonly additionalProperties: infer V }
                ? Record<string, FromSchema<V, M>>
                : unknown;
