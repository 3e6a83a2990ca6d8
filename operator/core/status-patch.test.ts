import type { AIJobStatus } from '../api/types.ts';
import { attemptFieldsPatch, guardedStatusPatch } from './status-patch.ts';
import type { StatusPatchOp } from './status-patch.ts';

const T = '2026-12-06T09:00:00Z';
const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: T });

/** RFC 6902 applied the way the apiserver does for these ops (tests included), on a copy of { status }. */
function apply(stored: AIJobStatus, ops: readonly StatusPatchOp[]): AIJobStatus | 'test failed' {
  const doc = JSON.parse(JSON.stringify({ status: stored })) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1);
    const last = parts.pop() as string;
    let parent: Record<string, unknown> | unknown[] = doc;
    for (const p of parts) parent = (parent as Record<string, unknown>)[p] as Record<string, unknown>;
    const current = Array.isArray(parent) ? parent[Number(last)] : parent[last];
    if (op.op === 'test') {
      if (JSON.stringify(current ?? null) !== JSON.stringify(op.value)) return 'test failed';
    } else if (Array.isArray(parent)) parent[Number(last)] = op.value;
    else parent[last] = op.value;
  }
  return doc.status as AIJobStatus;
}

describe('guardedStatusPatch', () => {
  const stored: AIJobStatus = {
    phase: 'Succeeded',
    attempts: [{ index: 1, provider: 'provider-a', startTime: T }],
    conditions: [cond('Funded', 'True', 'EscrowDeposited'), cond('Finished', 'True', 'Succeeded'), cond('Settled', 'False', 'SettlementPending', 'settling')],
    settlement: { id: '0xabc', refund: '1' },
  };
  const changed: AIJobStatus = {
    phase: 'Settled',
    settlement: { id: '0xabc', refund: '1', txHash: '0xfeed' },
    conditions: [cond('Funded', 'True', 'EscrowDeposited'), cond('Finished', 'True', 'Succeeded'), cond('Settled', 'True', 'SettlementConfirmed', 'settled')],
  };

  it('writes the changed fields and the changed condition in place, testing what each replaces and the fields it reads', () => {
    const ops = guardedStatusPatch(stored, changed, ['phase', 'attempts']) as StatusPatchOp[];
    expect(ops).toContainEqual({ op: 'test', path: '/status/phase', value: 'Succeeded' });
    expect(ops).toContainEqual({ op: 'test', path: '/status/attempts', value: stored.attempts });
    expect(ops).toContainEqual({ op: 'test', path: '/status/conditions/2/reason', value: 'SettlementPending' });
    // The unchanged conditions are neither tested nor written.
    expect(ops.some((op) => op.path.startsWith('/status/conditions/0') || op.path.startsWith('/status/conditions/1'))).toBe(false);
    expect(apply(stored, ops)).toEqual({ ...stored, ...changed });
  });

  it("is refused when a field or condition it replaces changed since read, and not when someone else's field did", () => {
    const ops = guardedStatusPatch(stored, changed, ['phase']) as StatusPatchOp[];
    // The artifacts wrote a receipt, the lifecycle another attempt's pods meanwhile: still lands.
    const others = { ...stored, receiptCID: 'bafy', attempts: [{ index: 1, provider: 'provider-a', startTime: T, nodes: ['n1'] }] };
    expect(apply(others, ops)).toEqual({ ...others, ...changed });
    // The settlement record, the Settled condition or the phase moved: refused.
    expect(apply({ ...stored, settlement: { id: '0xabc', refund: '2' } }, ops)).toBe('test failed');
    const settledElsewhere = { ...stored, conditions: [...(stored.conditions ?? []).slice(0, 2), cond('Settled', 'True', 'SettlementConfirmed')] };
    expect(apply(settledElsewhere, ops)).toBe('test failed');
    expect(apply({ ...stored, phase: 'Failed' }, ops)).toBe('test failed');
    // Conditions reordered (another writer rewrote the list): the position no longer holds Settled.
    const reordered = { ...stored, conditions: [...(stored.conditions ?? [])].reverse() };
    expect(apply(reordered, ops)).toBe('test failed');
  });

  it('tests a field written for the first time for its absence', () => {
    const ops = guardedStatusPatch(stored, { receiptCID: 'bafy' }) as StatusPatchOp[];
    expect(ops).toEqual([
      { op: 'test', path: '/status/receiptCID', value: null },
      { op: 'add', path: '/status/receiptCID', value: 'bafy' },
    ]);
    expect(apply({ ...stored, receiptCID: 'other' }, ops)).toBe('test failed');
  });

  it("writes a job's first status, or its first conditions, on the condition that it still has none", () => {
    const verdict = { conditions: [cond('Funded', 'True', 'EscrowDeposited')], funding: { escrowJobId: '0xabc' } };
    const first = guardedStatusPatch({}, verdict, ['phase']) as StatusPatchOp[];
    expect(first).toEqual([
      { op: 'test', path: '/status', value: null },
      { op: 'add', path: '/status', value: verdict },
    ]);
    const firstConditions = guardedStatusPatch({ phase: 'Pending' }, verdict) as StatusPatchOp[];
    expect(apply({ phase: 'Pending' }, firstConditions)).toEqual({ phase: 'Pending', ...verdict });
    // Someone wrote a condition first: refused (and the caller reads again).
    expect(apply({ phase: 'Pending', conditions: [cond('Scheduled', 'False', 'AwaitingFunding')] }, firstConditions)).toBe('test failed');
  });

  it('says nothing safe (undefined) for a condition added beside others or removed: the caller falls back to the resourceVersion', () => {
    const added = { conditions: [...(stored.conditions ?? []), cond('Verified', 'True', 'Matched')] };
    expect(guardedStatusPatch(stored, added)).toBeUndefined();
    expect(guardedStatusPatch(stored, { conditions: (stored.conditions ?? []).slice(1) })).toBeUndefined();
    const renamed = { conditions: [cond('Other', 'True', 'X'), ...(stored.conditions ?? []).slice(1)] };
    expect(guardedStatusPatch(stored, renamed)).toBeUndefined();
  });
});

describe('attemptFieldsPatch', () => {
  const attempts = [
    { index: 1, provider: 'provider-a', startTime: T, endTime: T, reason: 'Preempted: NodeLost' },
    { index: 2, provider: 'provider-b', startTime: T, endTime: T, reason: 'Succeeded' },
  ];

  it('sets fields on the attempts it names, tested on their positions and on what they expect', () => {
    const ops = attemptFieldsPatch(attempts, [{ index: 2, expect: { logTailCID: null }, set: { logTailCID: 'bafytail' } }]) as StatusPatchOp[];
    expect(ops).toEqual([
      { op: 'test', path: '/status/attempts/1/index', value: 2 },
      { op: 'test', path: '/status/attempts/1/logTailCID', value: null },
      { op: 'add', path: '/status/attempts/1/logTailCID', value: 'bafytail' },
    ]);
    const stored: AIJobStatus = { phase: 'Succeeded', attempts };
    // Another controller wrote a condition meanwhile: lands.
    const withReceipt = { ...stored, receiptCID: 'bafy' };
    expect((apply(withReceipt, ops) as AIJobStatus).attempts?.[1]).toMatchObject({ index: 2, logTailCID: 'bafytail' });
    // The tail was already written: refused.
    expect(apply({ ...stored, attempts: [attempts[0], { ...attempts[1], logTailCID: 'other' }] } as AIJobStatus, ops)).toBe('test failed');
  });

  it('is undefined for an attempt not on record', () => {
    expect(attemptFieldsPatch(attempts, [{ index: 3, expect: {}, set: { logTailCID: 'x' } }])).toBeUndefined();
  });
});
