import type { AIJobStatus } from '../api/types.ts';
import { wroteAlready } from './job-status.ts';

const at = (t: string) => `2026-12-06T09:0${t}:00Z`;
const funded = (t: string, message = '25 USDC deposited') => ({
  type: 'Funded',
  status: 'True' as const,
  reason: 'EscrowDeposited',
  message,
  lastTransitionTime: at(t),
});
const scheduled = { type: 'Scheduled', status: 'False' as const, reason: 'AwaitingFunding', message: 'waiting', lastTransitionTime: at('0') };

describe('wroteAlready: the same payments change decided again from a cache older than its own write', () => {
  // The cache: no verdict yet. What this writer wrote moments ago: Funded=True and the funding.
  const stale: AIJobStatus = { conditions: [scheduled] };
  const written: AIJobStatus = { conditions: [scheduled, funded('1')], funding: { escrowJobId: '0xab', deposited: '25' } };

  it('is true when every field and every condition it changes holds that value already (a new lastTransitionTime aside)', () => {
    expect(wroteAlready({ conditions: [scheduled, funded('2')], funding: { escrowJobId: '0xab', deposited: '25' } }, stale, written)).toBe(true);
  });

  it('is false when anything it writes differs from what was written: a new deposit, another verdict, a field not written', () => {
    expect(wroteAlready({ funding: { escrowJobId: '0xab', deposited: '30' } }, stale, written)).toBe(false);
    expect(wroteAlready({ conditions: [scheduled, funded('2', '30 USDC deposited')] }, stale, written)).toBe(false);
    expect(wroteAlready({ settlement: { id: '0xab' } }, stale, written)).toBe(false);
    expect(wroteAlready({ conditions: [scheduled, funded('2')] }, stale, { conditions: [scheduled] })).toBe(false);
  });
});
