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

/** A kubeconfig whose server never answers: the electors below override every request. */
async function unreachableKubeConfig() {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('LeaderElector.holds (fencing a leader frozen past its lease)', () => {
  it('holds only within the renew deadline of the last renewal, by the monotonic clock', async () => {
    const { LeaderElector } = await import('./leader-election.ts');
    class Renewing extends LeaderElector {
      override async tryAcquireOrRenew(): Promise<string> {
        return 'me';
      }
    }
    const kc = await unreachableKubeConfig();
    const elector = new Renewing(kc, {
      namespace: 'ns',
      name: 'lease',
      identity: 'me',
      timing: { leaseDurationMs: 1_000, renewDeadlineMs: 500, retryPeriodMs: 5 },
    });
    expect(elector.holds()).toBe(false);
    const before = performance.now();
    await elector.run({ onStartedLeading: () => elector.stop(), onStoppedLeading: () => undefined });
    // run() returned after stop(): leadership ended with it.
    expect(elector.holds()).toBe(false);
    elector.leading = true;
    expect(elector.holds(before + 100)).toBe(true);
    // Frozen for longer than the renew deadline: no longer, even though `leading` is still set.
    expect(elector.holds(performance.now() + 600)).toBe(false);
  });
});

describe('LeaderElector.run (a renew round that never answers)', () => {
  it('steps down within the renew deadline instead of waiting on the hung request', async () => {
    const { LeaderElector } = await import('./leader-election.ts');
    let rounds = 0;
    class HangsAfterFirst extends LeaderElector {
      override async tryAcquireOrRenew(): Promise<string> {
        rounds += 1;
        // The first round wins the lease; every later one hangs like a request on a dead connection.
        return rounds === 1 ? 'me' : new Promise<string>(() => undefined);
      }
    }
    const kc = await unreachableKubeConfig();
    const elector = new HangsAfterFirst(kc, {
      namespace: 'ns',
      name: 'lease',
      identity: 'me',
      timing: { leaseDurationMs: 1_000, renewDeadlineMs: 300, retryPeriodMs: 20 },
    });
    const stopped: string[] = [];
    let startedAt = 0;
    const started = performance.now();
    await elector.run({
      onStartedLeading: () => {
        startedAt = performance.now();
      },
      onStoppedLeading: (why) => stopped.push(why),
    });
    const tookMs = performance.now() - startedAt;
    expect(startedAt).toBeGreaterThanOrEqual(started);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatch(/could not renew lease ns\/lease within 300 ms: .*no answer within/);
    expect(elector.leading).toBe(false);
    // Stepped down at the deadline (plus one retry period and timer slack), not minutes later.
    expect(tookMs).toBeGreaterThanOrEqual(300 - 5);
    expect(tookMs).toBeLessThan(2_000);
  });
});

describe('LeaderElector.run (the lease changed hands and came back)', () => {
  it('ends the term when a renew round returns a newer token than the one the term started with', async () => {
    const { LeaderElector } = await import('./leader-election.ts');
    // Rounds as tryAcquireOrRenew sees them: won at token 3, renewed, then taken back over at token 5
    // (another replica held it in between, with token 4).
    const tokens = [3, 3, 5];
    class Regains extends LeaderElector {
      override async tryAcquireOrRenew(): Promise<string> {
        this.fencingToken = tokens.shift() ?? 5;
        return 'me';
      }
    }
    const kc = await unreachableKubeConfig();
    const elector = new Regains(kc, {
      namespace: 'ns',
      name: 'lease',
      identity: 'me',
      timing: { leaseDurationMs: 1_000, renewDeadlineMs: 500, retryPeriodMs: 1 },
    });
    const started: number[] = [];
    const stopped: string[] = [];
    await elector.run({ onStartedLeading: (token) => started.push(token), onStoppedLeading: (why) => stopped.push(why) });
    expect(started).toEqual([3]);
    expect(stopped).toEqual(['lease ns/lease changed hands while this process led (token 3 → 5)']);
    expect(elector.leading).toBe(false);
    expect(elector.holds()).toBe(false);
  });
});
