// Renders the reference tables of docs/api.md (fields, CEL rules, conditions, printer columns) from
// the same schemas the CRDs come from, so the doc cannot describe a field the API does not have.
// The prose around the tables is hand-written; each table sits between marker comments:
//   <!-- generated:NAME -->  …  <!-- /generated:NAME -->
import { aiJobSpecSchema, aiJobStatusSchema } from './aijob-schema.ts';
import { aiJobConditions, gpuProviderConditions } from './conditions.ts';
import type { ConditionDoc } from './conditions.ts';
import { aiJobCrd, aiJobPrinterColumns, gpuProviderPrinterColumns } from './crds.ts';
import type { PrinterColumn } from './crds.ts';
import { gpuProviderSpecSchema, gpuProviderStatusSchema } from './gpuprovider-schema.ts';
import type { SchemaProps, ValidationRule } from './schema-types.ts';

interface FieldRow {
  readonly path: string;
  readonly schema: SchemaProps;
  readonly required: boolean;
}

/** Every field under `root`, depth first in schema order; list items add `[]`, map values `{}`. */
export function fieldRows(root: SchemaProps, prefix: string): FieldRow[] {
  const rows: FieldRow[] = [];
  const visit = (schema: SchemaProps, path: string): void => {
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      const childPath = `${path}.${name}`;
      rows.push({ path: childPath, schema: child, required: schema.required?.includes(name) ?? false });
      visitNested(child, childPath);
    }
  };
  const visitNested = (schema: SchemaProps, path: string): void => {
    if (schema.items !== undefined) visit(schema.items, `${path}[]`);
    else visit(schema, path);
  };
  visit(root, prefix);
  return rows;
}

function typeName(s: SchemaProps): string {
  if (s['x-kubernetes-int-or-string'] === true) return 'int or string';
  if (s.type === 'array') return `[]${s.items ? typeName(s.items) : 'unknown'}`;
  if (s.type === 'object' && s.additionalProperties) return `map[string]${typeName(s.additionalProperties)}`;
  return s.type ?? 'any';
}

const code = (v: unknown): string => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function constraints(row: FieldRow): string[] {
  const s = row.schema;
  const item = s.items;
  const out: string[] = [];
  if (row.required) out.push('required');
  if (s.enum) out.push(`one of ${s.enum.map(code).join(', ')}`);
  if (s.format) out.push(`format ${s.format}`);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined) out.push(`length ≥ ${s.minLength}`);
  if (s.maxLength !== undefined) out.push(`length ≤ ${s.maxLength}`);
  if (s.minItems !== undefined) out.push(`items ≥ ${s.minItems}`);
  if (s.maxItems !== undefined) out.push(`items ≤ ${s.maxItems}`);
  if (s.maxProperties !== undefined) out.push(`entries ≤ ${s.maxProperties}`);
  if (s.pattern !== undefined) out.push(`pattern ${code(s.pattern)}`);
  if (s['x-kubernetes-list-type'] === 'map') out.push(`unique by ${(s['x-kubernetes-list-map-keys'] ?? []).join(', ')}`);
  if (s['x-kubernetes-list-type'] === 'set') out.push('unique items');
  if (item?.maxLength !== undefined && item.type === 'string') out.push(`item length ≤ ${item.maxLength}`);
  if (s.additionalProperties?.maxLength !== undefined) out.push(`value length ≤ ${s.additionalProperties.maxLength}`);
  const rules = [...(s['x-kubernetes-validations'] ?? []), ...(item?.type === 'string' ? (item['x-kubernetes-validations'] ?? []) : [])];
  for (const rule of rules) out.push(`CEL: ${rule.message}`);
  return out;
}

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderFieldTable(root: SchemaProps, prefix: string): string {
  const lines = ['| Field | Type | Default | Validation | Description |', '| --- | --- | --- | --- | --- |'];
  for (const row of fieldRows(root, prefix)) {
    const def = row.schema.default === undefined ? '' : code(row.schema.default);
    lines.push(`| ${[code(row.path), typeName(row.schema), def, constraints(row).join('; '), row.schema.description ?? ''].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Every CEL rule with the path of the value it is evaluated on (`self`). */
export function celRules(root: SchemaProps, prefix: string): { path: string; rule: ValidationRule }[] {
  const out: { path: string; rule: ValidationRule }[] = [];
  const visit = (s: SchemaProps, path: string): void => {
    for (const rule of s['x-kubernetes-validations'] ?? []) out.push({ path, rule });
    for (const [name, child] of Object.entries(s.properties ?? {})) visit(child, path === '' ? name : `${path}.${name}`);
    if (s.items) visit(s.items, `${path}[]`);
    if (s.additionalProperties) visit(s.additionalProperties, `${path}{}`);
  };
  visit(root, prefix);
  return out;
}

export function renderCelTable(root: SchemaProps, prefix: string): string {
  const lines = ['| On (`self`) | Rule | Message |', '| --- | --- | --- |'];
  for (const { path, rule } of celRules(root, prefix)) {
    lines.push(`| ${[code(path === '' ? '(object)' : path), code(rule.rule), rule.message].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

export function renderConditionTable(conditions: { readonly [type: string]: ConditionDoc }): string {
  const lines = ['| Type | Status | Reason | Meaning |', '| --- | --- | --- | --- |'];
  for (const [type, c] of Object.entries(conditions)) {
    lines.push(`| ${cell(`**${type}**`)} | | | ${cell(c.description)} |`);
    for (const [reason, r] of Object.entries(c.reasons)) {
      lines.push(`| | ${r.status} | ${code(reason)} | ${cell(r.description)} |`);
    }
  }
  return lines.join('\n');
}

export function renderPrinterColumnTable(columns: readonly PrinterColumn[]): string {
  const lines = ['| Column | JSONPath | Shown | Meaning |', '| --- | --- | --- | --- |'];
  for (const c of columns) {
    lines.push(`| ${[c.name, code(c.jsonPath), (c.priority ?? 0) > 0 ? '`-o wide`' : 'always', c.description].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

const rootRules = aiJobCrd.spec.versions[0]?.schema.openAPIV3Schema['x-kubernetes-validations'] ?? [];

export const generatedSections: Readonly<Record<string, () => string>> = {
  'aijob-spec': () => renderFieldTable(aiJobSpecSchema, 'spec'),
  'aijob-status': () => renderFieldTable(aiJobStatusSchema, 'status'),
  'aijob-cel': () => renderCelTable({ 'x-kubernetes-validations': rootRules, properties: { spec: aiJobSpecSchema } }, ''),
  'aijob-conditions': () => renderConditionTable(aiJobConditions),
  'aijob-columns': () => renderPrinterColumnTable(aiJobPrinterColumns),
  'gpuprovider-spec': () => renderFieldTable(gpuProviderSpecSchema, 'spec'),
  'gpuprovider-status': () => renderFieldTable(gpuProviderStatusSchema, 'status'),
  'gpuprovider-cel': () => renderCelTable({ properties: { spec: gpuProviderSpecSchema } }, ''),
  'gpuprovider-conditions': () => renderConditionTable(gpuProviderConditions),
  'gpuprovider-columns': () => renderPrinterColumnTable(gpuProviderPrinterColumns),
};

/** Returns `doc` with every generated section replaced; throws if a section's markers are missing. */
export function renderApiReference(doc: string): string {
  let out = doc;
  for (const [name, render] of Object.entries(generatedSections)) {
    const open = `<!-- generated:${name} -->`;
    const close = `<!-- /generated:${name} -->`;
    const start = out.indexOf(open);
    const end = out.indexOf(close);
    if (start < 0 || end < start) throw new Error(`docs/api.md lacks the markers ${open} … ${close}`);
    out = `${out.slice(0, start + open.length)}\n${render()}\n${out.slice(end)}`;
  }
  return out;
}
