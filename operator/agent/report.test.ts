import { parseCheckpointReport } from '../core/lifecycle/checkpoint.ts';
import {
  afterOutcome,
  classifyReportResponse,
  DEFAULT_RETRY_AFTER_MS,
  dueReport,
  EMPTY_QUEUE,
  enqueue,
  MAX_RETRY_AFTER_MS,
  networkFailure,
  reportBody,
  retryAfterMs,
} from './report.ts';

const CID_A = 'bafybeicikyxxx7tpxfdglv7ljrhsmu7oukquqpq4dh4w3uovf7av3uo6fu';
const CID_B = 'bafybeibttk67itszoery6hzihzfclk5m5njcxfgynxypvmqtot4f7bzmrm';
const job = { namespace: 'team-a', name: 'train-1', uid: 'u-1', attempt: 3 };
const NOW = Date.parse('2026-01-02T03:04:05Z');

describe('reportBody', () => {
  it('is what the receiving side parses back into the same report', () => {
    const body = reportBody(job, CID_A, NOW - 1000);
    expect(body).toEqual({ namespace: 'team-a', name: 'train-1', uid: 'u-1', attempt: 3, cid: CID_A, time: '2026-01-02T03:04:04.000Z' });
    expect(parseCheckpointReport(JSON.parse(JSON.stringify(body)), NOW)).toEqual({ ...job, cid: CID_A, time: NOW - 1000 });
  });
});

describe('classifyReportResponse', () => {
  it.each<[number, string | null, string]>([
    [204, null, 'recorded'],
    [409, null, 'stale'],
    [429, '3', 'retry'],
    [500, null, 'retry'],
    [503, null, 'retry'],
    [400, null, 'rejected'],
    [401, null, 'rejected'],
    [404, null, 'rejected'],
  ])('HTTP %i → %s', (status, retryAfter, kind) => {
    expect(classifyReportResponse(status, retryAfter, 'detail', NOW).kind).toBe(kind);
  });

  it('waits as long as a 429 says, and retries a 5xx at the next poll', () => {
    expect(classifyReportResponse(429, '3', '', NOW)).toEqual({ kind: 'retry', afterMs: 3000, detail: '' });
    expect(classifyReportResponse(503, '30', 'hub unavailable', NOW)).toEqual({ kind: 'retry', afterMs: 0, detail: 'hub unavailable' });
    expect(networkFailure('ECONNREFUSED')).toEqual({ kind: 'retry', afterMs: 0, detail: 'ECONNREFUSED' });
  });
});

describe('retryAfterMs', () => {
  it.each<[string | null, number]>([
    ['7', 7000],
    ['0', 0],
    [new Date(NOW + 12_000).toUTCString(), 12_000],
    [new Date(NOW - 12_000).toUTCString(), 0],
    ['99999', MAX_RETRY_AFTER_MS],
    [null, DEFAULT_RETRY_AFTER_MS],
    ['soon', DEFAULT_RETRY_AFTER_MS],
    ['-5', DEFAULT_RETRY_AFTER_MS],
  ])('%j → %i ms', (header, ms) => expect(retryAfterMs(header, NOW)).toBe(ms));
});

describe('the report queue', () => {
  const a = { cid: CID_A, time: NOW - 5000 };
  const b = { cid: CID_B, time: NOW - 1000 };

  it('sends what is pending, and forgets it once recorded or stale', () => {
    const q = enqueue(EMPTY_QUEUE, a);
    expect(dueReport(q, NOW)).toBe(a);
    expect(afterOutcome(q, a, { kind: 'recorded' }, NOW)).toEqual(EMPTY_QUEUE);
    expect(afterOutcome(q, a, { kind: 'stale', detail: '' }, NOW).pending).toBeUndefined();
    expect(afterOutcome(q, a, { kind: 'rejected', detail: '' }, NOW).pending).toBeUndefined();
  });

  it('keeps a failed report for the next poll', () => {
    const q = afterOutcome(enqueue(EMPTY_QUEUE, a), a, { kind: 'retry', afterMs: 0, detail: '' }, NOW);
    expect(dueReport(q, NOW + 1)).toBe(a);
  });

  it('holds back after a 429 until Retry-After has passed', () => {
    const q = afterOutcome(enqueue(EMPTY_QUEUE, a), a, { kind: 'retry', afterMs: 3000, detail: '' }, NOW);
    expect(dueReport(q, NOW + 2999)).toBeUndefined();
    expect(dueReport(q, NOW + 3000)).toBe(a);
  });

  it('lets a newer checkpoint replace an unsent one, keeping the 429 wait', () => {
    const q = enqueue(afterOutcome(enqueue(EMPTY_QUEUE, a), a, { kind: 'retry', afterMs: 3000, detail: '' }, NOW), b);
    expect(dueReport(q, NOW + 1000)).toBeUndefined();
    expect(dueReport(q, NOW + 3000)).toBe(b);
  });

  it('keeps a newer checkpoint enqueued while an older one was in flight', () => {
    const inFlight = enqueue(EMPTY_QUEUE, a);
    const meanwhile = enqueue(inFlight, b);
    expect(afterOutcome(meanwhile, a, { kind: 'recorded' }, NOW).pending).toBe(b);
  });
});
