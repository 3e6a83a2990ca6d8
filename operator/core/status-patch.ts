// A status write that says what it depends on: a JSON patch (RFC 6902) that tests the previous value
// of each field it changes, and of each condition it changes the condition's type, status and
// reason at its position, then writes the new ones. Unlike a resourceVersion precondition it is not
// refused when another controller wrote a field this write neither reads nor writes (the lifecycle's
// attempts, the artifacts' receipt), only when what it replaces changed since it was read.
//
// The apiserver compares a test's strings byte for byte as its JSON encoder wrote them (which escapes
// `<`, `>` and `&`), so tests belong on fields whose values never hold those: identifiers, amounts,
// hashes, condition types, statuses and reasons. A test that fails for that reason is a refusal the
// caller answers the old way (a resourceVersion precondition on a fresh read), never a wrong write.
//
// Pure.
import type { AIJobStatus } from '../api/types.ts';
import { sameJson } from './json.ts';

export type StatusPatchOp =
  | { readonly op: 'test'; readonly path: string; readonly value: unknown }
  | { readonly op: 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'replace'; readonly path: string; readonly value: unknown };

/**
 * The JSON patch that turns `stored` into `stored` with `changed`'s top-level fields, testing what
 * each replaces; undefined when a patch cannot say it safely and the caller must fall back to a
 * resourceVersion precondition: a condition would be added beside others or removed (a position
 * cannot be tested for absence, so two writers could both append one). A job without status, or
 * without conditions, gets them on the condition that it still has none.
 */
export function guardedStatusPatch(
  stored: AIJobStatus,
  changed: AIJobStatus,
  /** Fields the write depends on without writing them (e.g. the phase that makes a job settleable): tested as read. */
  readsAlso: readonly Exclude<keyof AIJobStatus, 'conditions'>[] = [],
): StatusPatchOp[] | undefined {
  // No status yet (a new job's first write): the whole status, on the condition that there is still
  // none (which also says every field it reads is still absent).
  if (Object.keys(stored).length === 0)
    return [
      { op: 'test', path: '/status', value: null },
      { op: 'add', path: '/status', value: changed },
    ];
  const ops: StatusPatchOp[] = [];
  for (const field of readsAlso) if (!(field in changed)) ops.push({ op: 'test', path: `/status/${field}`, value: stored[field] ?? null });
  for (const [field, value] of Object.entries(changed) as [keyof AIJobStatus, unknown][]) {
    if (value === undefined) return undefined;
    if (field === 'conditions') {
      const conditionOps = conditionPatch(stored.conditions ?? [], changed.conditions ?? []);
      if (!conditionOps) return undefined;
      ops.push(...conditionOps);
      continue;
    }
    // A test for null passes on a missing member (the apiserver's json-patch), so a first write is tested too.
    ops.push({ op: 'test', path: `/status/${field}`, value: stored[field] ?? null }, { op: 'add', path: `/status/${field}`, value });
  }
  return ops;
}

type Condition = NonNullable<AIJobStatus['conditions']>[number];

function conditionPatch(stored: readonly Condition[], next: readonly Condition[]): StatusPatchOp[] | undefined {
  // The first conditions: on the condition that there are still none.
  if (stored.length === 0)
    return [
      { op: 'test', path: '/status/conditions', value: null },
      { op: 'add', path: '/status/conditions', value: next },
    ];
  if (next.length !== stored.length) return undefined;
  const ops: StatusPatchOp[] = [];
  for (const condition of next) {
    const at = stored.findIndex((c) => c.type === condition.type);
    if (at < 0) return undefined;
    const before = stored[at] as Condition;
    if (sameJson(before, condition)) continue;
    const path = `/status/conditions/${at}`;
    ops.push(
      { op: 'test', path: `${path}/type`, value: before.type },
      { op: 'test', path: `${path}/status`, value: before.status },
      { op: 'test', path: `${path}/reason`, value: before.reason ?? null },
      { op: 'replace', path, value: condition },
    );
  }
  return ops;
}

type Attempt = NonNullable<AIJobStatus['attempts']>[number];

/** One attempt's fields to set, on the condition that the fields in `expect` are still as read (null: absent). */
export interface AttemptWrite {
  readonly index: number;
  readonly expect: Readonly<Partial<Record<keyof Attempt, unknown>>>;
  readonly set: Readonly<Partial<Attempt>>;
}

/**
 * Fields set on attempts in place, each attempt found by its position and tested to be there (its
 * index: attempts are only ever appended) and on what `expect` says — so a write of another field
 * of the job, or of another attempt, lands meanwhile without refusing it. Undefined when an attempt
 * named is not in `attempts`.
 */
export function attemptFieldsPatch(attempts: readonly Attempt[], writes: readonly AttemptWrite[]): StatusPatchOp[] | undefined {
  const ops: StatusPatchOp[] = [];
  for (const write of writes) {
    const at = attempts.findIndex((a) => a.index === write.index);
    if (at < 0) return undefined;
    const path = `/status/attempts/${at}`;
    ops.push({ op: 'test', path: `${path}/index`, value: write.index });
    for (const [field, value] of Object.entries(write.expect)) ops.push({ op: 'test', path: `${path}/${field}`, value: value ?? null });
    for (const [field, value] of Object.entries(write.set)) ops.push({ op: 'add', path: `${path}/${field}`, value });
  }
  return ops;
}
