import type { AIJobStatus } from '../../api/types.ts';
import { applyCheckpoint, parseCheckpointReport } from './checkpoint.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const body = (over: Record<string, unknown> = {}) => ({
  namespace: 'ml',
  name: 'train',
  uid: 'u-1',
  attempt: 2,
  cid: CID,
  time: new Date(T0).toISOString(),
  ...over,
});
const status: AIJobStatus = {
  attempts: [
    { index: 1, provider: 'a', startTime: '2026-11-23T09:00:00Z', endTime: '2026-11-23T09:30:00Z', reason: 'Preempted: NodeLost' },
    { index: 2, provider: 'b', startTime: '2026-11-23T09:31:00Z' },
  ],
};

describe('checkpoint reports', () => {
  it('parses a report and names the field that is wrong', () => {
    expect(parseCheckpointReport(body(), T0)).toEqual({ namespace: 'ml', name: 'train', uid: 'u-1', attempt: 2, cid: CID, time: T0 });
    expect(parseCheckpointReport(body({ cid: 'nope' }), T0)).toBe('cid "nope" is not a CID');
    expect(parseCheckpointReport(body({ attempt: 0 }), T0)).toBe('attempt must be a positive integer');
    expect(parseCheckpointReport(body({ name: '' }), T0)).toBe('name must be a non-empty string');
    expect(parseCheckpointReport(body({ time: 'yesterday' }), T0)).toBe('time must be an RFC 3339 timestamp');
    expect(parseCheckpointReport(body({ time: new Date(T0 + 3_600_000).toISOString() }), T0)).toBe('time is in the future');
    expect(parseCheckpointReport([], T0)).toBe('namespace must be a non-empty string');
  });

  it("records a time ahead of the hub's clock (within the skew it accepts) as the hub's receipt", () => {
    // A preempted attempt is billed up to its checkpoint: 59 s ahead would bill 59 s nobody saw.
    expect(parseCheckpointReport(body({ time: new Date(T0 + 59_000).toISOString() }), T0)).toMatchObject({ time: T0 });
    expect(parseCheckpointReport(body({ time: new Date(T0 - 5_000).toISOString() }), T0)).toMatchObject({ time: T0 - 5_000 });
  });

  it('records it on the open attempt it names, only forward in time', () => {
    const report = parseCheckpointReport(body(), T0);
    if (typeof report === 'string') throw new Error(report);
    const applied = applyCheckpoint(status, report);
    expect(applied.ok && applied.status.attempts?.[1]).toMatchObject({ checkpointCID: CID, checkpointTime: new Date(T0).toISOString() });
    if (!applied.ok) throw new Error('not applied');
    expect(applyCheckpoint(applied.status, report)).toMatchObject({ ok: false, code: 409 });
    expect(applyCheckpoint(applied.status, { ...report, time: T0 + 1 })).toMatchObject({ ok: true });
  });

  it('as a JSON patch: tests the attempt at its position, still open, at the checkpoint read, and sets only the checkpoint', () => {
    const report = parseCheckpointReport(body(), T0);
    if (typeof report === 'string') throw new Error(report);
    const first = applyCheckpoint(status, report);
    if (!first.ok) throw new Error('not applied');
    const at = new Date(T0).toISOString();
    expect(first.ops).toEqual([
      { op: 'test', path: '/status/attempts/1/index', value: 2 },
      { op: 'test', path: '/status/attempts/1/endTime', value: null },
      { op: 'test', path: '/status/attempts/1/checkpointTime', value: null },
      { op: 'add', path: '/status/attempts/1/checkpointCID', value: CID },
      { op: 'add', path: '/status/attempts/1/checkpointTime', value: at },
    ]);
    // The next one tests the checkpoint the first recorded: a report racing it is refused, not lost silently.
    const next = applyCheckpoint(first.status, { ...report, time: T0 + 1_000 });
    expect(next.ok && next.ops).toContainEqual({ op: 'test', path: '/status/attempts/1/checkpointTime', value: at });
  });

  it('refuses reports for closed or unknown attempts (a fenced attempt cannot move the job)', () => {
    const report = parseCheckpointReport(body(), T0);
    if (typeof report === 'string') throw new Error(report);
    expect(applyCheckpoint(status, { ...report, attempt: 1 })).toMatchObject({ ok: false, code: 409, error: 'attempt 1 has ended (Preempted: NodeLost)' });
    expect(applyCheckpoint(status, { ...report, attempt: 3 })).toMatchObject({ ok: false, code: 409 });
  });
});
