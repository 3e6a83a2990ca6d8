// Output formats shared by the commands: -o json | yaml, or the command's own human form.
import { InvalidArgumentError, Option } from 'commander';
import * as yaml from 'js-yaml';

export const OUTPUT_FORMATS = ['json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const outputOption = () => new Option('-o, --output <format>', 'print json or yaml instead of the human-readable form').choices(OUTPUT_FORMATS);

export function render(value: unknown, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(value, null, 2) + '\n';
  return yaml.dump(value, { noRefs: true, lineWidth: 120 });
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

/** Left-aligned columns; the header row is the first. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ')).join('\n') + '\n';
}

/** "2m13s" style ages. */
export function age(fromIso: string | undefined, now = Date.now()): string {
  const t = Date.parse(fromIso ?? '');
  if (!Number.isFinite(t)) return '-';
  let s = Math.max(0, Math.floor((now - t) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Repeatable option collector: --x a --x b,c → [a, b, c]. */
export function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/** Repeatable option collector that keeps commas (KEY=VALUE pairs). */
export function collectRaw(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive whole number.`);
    return n;
  };
}
