import type { V1Lease } from '@kubernetes/client-node';
import { decideLease, MicroTime } from './leader-election.ts';

const now = new Date('2026-11-23T12:00:00Z');
const lease = (holder: string, renewedAgoMs: number, durationS = 15): V1Lease => ({
  spec: { holderIdentity: holder, leaseDurationSeconds: durationS, renewTime: new Date(now.getTime() - renewedAgoMs) },
});

describe('decideLease', () => {
  const cases: Array<{ name: string; lease: V1Lease | undefined; action: string }> = [
    { name: 'creates the lease when there is none', lease: undefined, action: 'create' },
    { name: 'renews its own lease', lease: lease('me', 1_000), action: 'renew' },
    { name: 'renews its own lease even when it is overdue (nobody else took it)', lease: lease('me', 60_000), action: 'renew' },
    { name: 'waits while another holder renewed within the lease duration', lease: lease('other', 14_000), action: 'wait' },
    { name: 'takes over once the holder has not renewed for a full lease duration', lease: lease('other', 15_000), action: 'takeover' },
    { name: 'takes over a lease with no holder', lease: lease('', 0), action: 'takeover' },
    { name: 'takes over a lease that was never renewed', lease: { spec: { holderIdentity: 'other' } }, action: 'takeover' },
  ];
  it.each(cases)('$name', ({ lease: l, action }) => {
    expect(decideLease(l, 'me', now, 15_000).action).toBe(action);
  });
});

describe('MicroTime', () => {
  it('serializes with the six fractional digits metav1.MicroTime requires', () => {
    expect(JSON.stringify({ t: new MicroTime('2026-11-23T12:00:00.123Z') })).toBe('{"t":"2026-11-23T12:00:00.123000Z"}');
  });
});
