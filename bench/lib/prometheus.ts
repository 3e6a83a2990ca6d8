// Reads samples out of the Prometheus text exposition format (what the operator's /metrics serves),
// enough for counters and histogram _count/_sum series: `name{label="value",…} 12.5`.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1] as string, labels, value });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `match`, grouped by the labels in `by`. */
export function sumBy(samples: readonly Sample[], name: string, by: readonly string[], match: Readonly<Record<string, string>> = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name || Object.entries(match).some(([k, v]) => s.labels[k] !== v)) continue;
    const key = by.map((b) => s.labels[b] ?? '').join('/');
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/** after − before, per key (keys only in `after` count from 0). */
export function delta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

/** The samples an operator serves on its /metrics at 127.0.0.1:`port`. */
export async function scrape(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parsePrometheusText(await res.text());
}
