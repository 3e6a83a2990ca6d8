// Named crash points for the chaos tests (docs/chaos.md). Off unless FLOTILLA_FAILPOINT names one:
//
//   FLOTILLA_FAILPOINT=<point>[@<n>][:stop][,…]
//
// The n-th time (default: the first) this process reaches <point>, it writes one log line and
// SIGKILLs itself: a crash with no cleanup, exactly where a side effect has happened and the next
// one has not. With `:stop` it SIGSTOPs itself instead (frozen, as a paused VM or a GC stall; the
// split-brain test resumes it with SIGCONT). The one failpoint mechanism of the operator: the
// AIJob controller, the hub store, the artifacts controller and the settlement batcher all call it.
import { jsonLogger } from '../log.ts';

/** The points that exist (grep for `failpoint('…')`). */
export type FailpointName = 'before-status-write' | 'after-pod-create' | 'after-pin' | 'after-settle-send';

interface Armed {
  readonly hit: number;
  readonly action: 'kill' | 'stop';
}

let parsedFrom: string | undefined;
let armed = new Map<string, Armed>();
const reached = new Map<string, number>();
const log = jsonLogger('failpoint');

/** Parses FLOTILLA_FAILPOINT; unknown shapes are ignored (a test typo must not crash production). */
export function parseFailpoints(spec: string): Map<string, Armed> {
  const out = new Map<string, Armed>();
  for (const item of spec.split(',')) {
    const m = /^\s*([a-z][a-z-]*)(?:@(\d+))?(?::(stop|kill))?\s*$/.exec(item);
    if (m?.[1]) out.set(m[1], { hit: Number(m[2] ?? '1') || 1, action: m[3] === 'stop' ? 'stop' : 'kill' });
  }
  return out;
}

/** Crashes (or freezes) the process when FLOTILLA_FAILPOINT arms `name` for this hit; else nothing. */
export function failpoint(name: FailpointName, fields: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): void {
  const spec = env.FLOTILLA_FAILPOINT;
  if (!spec) return;
  if (spec !== parsedFrom) {
    armed = parseFailpoints(spec);
    parsedFrom = spec;
  }
  const point = armed.get(name);
  if (!point) return;
  const n = (reached.get(name) ?? 0) + 1;
  reached.set(name, n);
  if (n !== point.hit) return;
  log('warn', `failpoint ${name}: ${point.action === 'stop' ? 'SIGSTOP' : 'SIGKILL'} at hit ${n}`, fields);
  process.kill(process.pid, point.action === 'stop' ? 'SIGSTOP' : 'SIGKILL');
}
