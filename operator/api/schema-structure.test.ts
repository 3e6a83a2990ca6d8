// Properties the apiserver demands of a CRD (structural schema, CEL that compiles within its cost
// budget) and properties we demand of ours (messages that name their field, defaults that pass
// their own validation), checked on every node of both schemas.
import { conditionSchema } from './field-schemas.ts';
import { aiJobConditions, gpuProviderConditions } from './conditions.ts';
import { crds } from './crds.ts';
import type { CustomResourceDefinition, PrinterColumn } from './crds.ts';
import { admit } from '../../test/support/local-validation/admission.ts';
import { checkFieldReferences, parseCel } from '../../test/support/local-validation/cel.ts';
import type { SchemaProps } from './schema-types.ts';

interface SchemaNode {
  readonly crd: string;
  /** Path as a user reads it: `spec.inputs[].cid`; the root is ''. */
  readonly path: string;
  readonly schema: SchemaProps;
  /** Inside a list that the apiserver cannot correlate between versions (not list-type map). */
  readonly underUncorrelatedList: boolean;
}

function nodesOf(crd: CustomResourceDefinition): SchemaNode[] {
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
  if (root === undefined) throw new Error(`${crd.metadata.name} has no schema`);
  const out: SchemaNode[] = [];
  const visit = (schema: SchemaProps, path: string, uncorrelated: boolean): void => {
    out.push({ crd: crd.metadata.name, path, schema, underUncorrelatedList: uncorrelated });
    for (const [name, child] of Object.entries(schema.properties ?? {})) visit(child, path === '' ? name : `${path}.${name}`, uncorrelated);
    if (schema.items) visit(schema.items, `${path}[]`, uncorrelated || schema['x-kubernetes-list-type'] !== 'map');
    if (schema.additionalProperties) visit(schema.additionalProperties, `${path}{}`, uncorrelated);
  };
  visit(root, '', false);
  return out;
}

const nodes = crds.flatMap(nodesOf);
const named = (n: SchemaNode): string => `${n.crd} ${n.path === '' ? '(root)' : n.path}`;
const rules = nodes.flatMap((n) => (n.schema['x-kubernetes-validations'] ?? []).map((r) => [named(n), r.rule, n, r] as const));
const isIntOrString = (s: SchemaProps): boolean => s['x-kubernetes-int-or-string'] === true;

describe('structural schema', () => {
  it.each(nodes.map((n) => [named(n), n] as const))('%s has a type, or is int-or-string with the allowed anyOf', (_, n) => {
    if (isIntOrString(n.schema)) {
      expect(n.schema.type).toBeUndefined();
      expect(n.schema.anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
    } else {
      expect(n.schema.type).toBeDefined();
      expect(n.schema.anyOf).toBeUndefined();
    }
  });

  it.each(nodes.filter((n) => n.schema.type === 'object' && n.path !== 'metadata').map((n) => [named(n), n] as const))(
    '%s declares its fields or its map values, so nothing is preserved unknown',
    (_, n) => {
      expect(n.schema.properties !== undefined || n.schema.additionalProperties !== undefined).toBe(true);
      expect(n.schema.properties !== undefined && n.schema.additionalProperties !== undefined).toBe(false);
    },
  );

  it.each(nodes.filter((n) => n.schema.type === 'array').map((n) => [named(n), n] as const))('%s has items and a maxItems', (_, n) => {
    expect(n.schema.items).toBeDefined();
    expect(n.schema.maxItems).toBeGreaterThan(0);
  });

  it.each(nodes.filter((n) => n.schema.type === 'object' && n.schema.additionalProperties).map((n) => [named(n), n] as const))(
    '%s (a map) has a maxProperties',
    (_, n) => {
      expect(n.schema.maxProperties).toBeGreaterThan(0);
    },
  );

  it.each(
    nodes
      .filter((n) => n.schema.type === 'string' && !n.schema.enum && n.schema.format !== 'date-time' && !['apiVersion', 'kind'].includes(n.path))
      .map((n) => [named(n), n] as const),
  )('%s (a string) has a maxLength, so CEL cost estimates stay bounded', (_, n) => {
    expect(n.schema.maxLength).toBeGreaterThan(0);
  });

  it.each(nodes.filter((n) => n.schema['x-kubernetes-list-type'] === 'map').map((n) => [named(n), n] as const))(
    '%s (a list-type map) requires its map keys in every item',
    (_, n) => {
      const keys = n.schema['x-kubernetes-list-map-keys'] ?? [];
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) expect(n.schema.items?.required).toContain(k);
    },
  );
});

describe('defaults', () => {
  it.each(nodes.filter((n) => n.schema.default !== undefined).map((n) => [named(n), n] as const))('%s has a default its own schema admits', (_, n) => {
    expect(admit(n.schema, n.schema.default).errors).toEqual([]);
  });
});

describe('CEL rules', () => {
  it.each(rules)('%s: %s parses and names only declared fields', (_, __, n, r) => {
    expect(() => parseCel(r.rule)).not.toThrow();
    expect(checkFieldReferences(r.rule, n.schema)).toEqual([]);
  });

  it.each(rules)('%s: the message of %s names the field it is about', (_, __, n, r) => {
    const field = n.path === '' ? 'metadata.' : n.path;
    expect(r.message.startsWith(field)).toBe(true);
  });

  it.each(rules.filter(([, rule]) => /\boldSelf\b/.test(rule)))('%s: transition rule %s sits where old and new values correlate', (_, __, n) => {
    expect(n.underUncorrelatedList).toBe(false);
  });

  it.each(rules)('%s: %s keeps backslashes out of the rule text', (_, rule) => {
    expect(rule).not.toContain('\\');
  });
});

function columnTarget(crd: CustomResourceDefinition, column: PrinterColumn): SchemaProps | undefined {
  let s: SchemaProps | undefined = crd.spec.versions[0]?.schema.openAPIV3Schema;
  // `.status.conditions[?(@.type=="Ready")].status` walks into the condition items.
  for (const part of column.jsonPath
    .replace(/\[\?\(@\.type=="[A-Za-z]+"\)\]/g, '[]')
    .split('.')
    .slice(1)) {
    const [name, ...rest] = part.split('[]');
    s = s?.properties?.[name ?? ''];
    if (rest.length > 0) s = s?.items;
  }
  return s;
}

const columnType = (s: SchemaProps): string => (s.format === 'date-time' ? 'date' : (s.type ?? ''));

describe('printer columns', () => {
  const columns = crds.flatMap((crd) =>
    (crd.spec.versions[0]?.additionalPrinterColumns ?? []).map((c) => [`${crd.spec.names.kind} ${c.name}`, crd, c] as const),
  );
  // Object metadata is not in the CRD's schema: its columns are the age and string annotations.
  it.each(columns.filter(([, , c]) => c.jsonPath.startsWith('.metadata.')))('%s reads the creation time or an annotation', (_, __, c) => {
    expect(c.jsonPath === '.metadata.creationTimestamp' ? c.type : /^\.metadata\.annotations\.[a-z0-9\\.-]+\/[a-z0-9-]+$/.test(c.jsonPath) && c.type).toBe(
      c.jsonPath === '.metadata.creationTimestamp' ? 'date' : 'string',
    );
  });

  it.each(columns.filter(([, , c]) => !c.jsonPath.startsWith('.metadata.')))('%s points at a schema field of its type', (_, crd, c) => {
    const target = columnTarget(crd, c);
    expect(target).toBeDefined();
    expect(columnType(target ?? {})).toBe(c.type);
  });
});

describe('conditions', () => {
  const typePattern = new RegExp(conditionSchema.properties.type.pattern);
  const reasonPattern = new RegExp(conditionSchema.properties.reason.pattern);
  const all = [...Object.entries(aiJobConditions), ...Object.entries(gpuProviderConditions)];
  it.each(all.map(([type, c]) => [type, c] as const))('condition %s has a valid type and only valid reasons', (type, c) => {
    expect(typePattern.test(type)).toBe(true);
    for (const reason of Object.keys(c.reasons)) expect(reasonPattern.test(reason)).toBe(true);
  });
});
