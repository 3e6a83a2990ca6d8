// Classifies a write to an AIJob, as a watch sees it, by what it changed: the dispatch benchmark
// counts writes per job by class (who writes what, and how often).
import type { AIJob } from '../../operator/api/types.ts';

/** What a write changed: finalizers, and the top-level status fields (conditions by type and reason). */
export function changeOf(before: AIJob | undefined, after: AIJob): string {
  if (!before) return 'unknown (first seen)';
  const parts: string[] = [];
  if (JSON.stringify(before.metadata.finalizers ?? []) !== JSON.stringify(after.metadata.finalizers ?? [])) parts.push('finalizers');
  const b = (before.status ?? {}) as Record<string, unknown>;
  const a = (after.status ?? {}) as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
    if (key === 'conditions') continue;
    if (JSON.stringify(b[key]) !== JSON.stringify(a[key])) parts.push(key === 'phase' ? `phase→${String(a.phase)}` : key);
  }
  const conds = (s: Record<string, unknown>) =>
    new Map(((s.conditions ?? []) as { type: string; status: string; reason: string; message: string }[]).map((c) => [c.type, c]));
  const cb = conds(b);
  for (const [type, c] of conds(a)) {
    const old = cb.get(type);
    if (!old || old.status !== c.status || old.reason !== c.reason) parts.push(`${type}=${c.status}/${c.reason}`);
    else if (old.message !== c.message) parts.push(`${type} message`);
  }
  return parts.length > 0 ? parts.join(', ') : 'no visible change';
}
