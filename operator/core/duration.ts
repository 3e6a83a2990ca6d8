// Go/Kubernetes-style durations ("90s", "10m", "1h30m") to whole seconds, as CEL's duration() accepts them.
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1 };

export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)([hms])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new RangeError(`"${text}" is not a duration like 90s, 10m or 1h30m`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_SECONDS[p[2] ?? 's'] ?? 1), 0);
}
