// Verified compute on the local federation (docs/verification.md), with real parts only: a lying
// provider (test/support/lying-provider.ts: it ends its pods Succeeded at once with a wrong output
// CID, skipping the work), honest providers whose simulated runs give the same CID for the same
// work (sim.flotilla.dev/deterministic), the operator's lifecycle and settlement, and the real
// escrow contract on anvil with a bond posted for the liar.
//
// Private corners (their own GPU product and lent namespace): the liar's, one GPUProvider in each of
// the three clusters (the liar the cheapest, so the original run goes to it); and a second, all
// honest, for a re-execution preempted mid-run. Every GPUProvider is paid to its own address. (Two
// GPUProviders of one corner never share a cluster: each would take the other's pods for
// provider-made ones.)
import { Wallet } from 'ethers';
import type { AIJob, AIJobManifest, GPUProvider } from '../../operator/api/types.ts';
import { GPUPROVIDER, GROUP, VERSION } from '../../operator/api/group.ts';
import { EscrowClient } from '../../operator/payments/escrow-client.ts';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { clusterClients, createNamespace, deleteNamespace, pollUntil, uniqueName } from '../support/federation.ts';
import { startLiar } from '../support/lying-provider.ts';
import type { Liar } from '../support/lying-provider.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { aijobManifest } from '../support/aijob.ts';
import { addProvider, clusterRef, createJob, jobPods, newCorner, removeCorner, waitJob, waitProvidersReady } from '../support/corner.ts';
import {
  EscrowProbe,
  RandomPayer,
  USDC,
  chainConfigOf,
  declarePayers,
  escrowJobIdOf,
  federationChain,
  fundAs,
  operatorChainEnv,
} from '../payments/payments-fixture.ts';

const hub = clusterClients('hub');
const custom = hub.kc.makeApiClient(CustomObjectsApi);
const c = federationChain();
const probe = new EscrowProbe(c);
const corner = newCorner();
const LIAR = `vc-${corner.id}-liar`;
const HONEST = [`vc-${corner.id}-a`, `vc-${corner.id}-b`] as const;
const quiet = newCorner();
const QUIET = [`vq-${quiet.id}-a`, `vq-${quiet.id}-b`, `vq-${quiet.id}-c`] as const;
const payout = new Map([LIAR, ...HONEST, ...QUIET].map((p) => [p, Wallet.createRandom().address]));
const SLASH = '10';
const BOND = '25';
let ns = '';
let operator: OperatorProcess | undefined;
let liar: Liar | undefined;
const payer = new RandomPayer(c);
const bondFunder = new RandomPayer(c);

beforeAll(async () => {
  ns = await createNamespace(hub.core, 't-verify');
  await payer.prepare(USDC('100'));
  await declarePayers(hub.core, ns, [payer.address]);
  await addProvider(corner, { name: LIAR, cluster: clusterRef('provider-c'), price: '0.50', payoutAddress: payout.get(LIAR) as string });
  await addProvider(corner, { name: HONEST[0], cluster: clusterRef('provider-a'), price: '1.00', payoutAddress: payout.get(HONEST[0]) as string });
  await addProvider(corner, { name: HONEST[1], cluster: clusterRef('provider-b'), price: '1.00', payoutAddress: payout.get(HONEST[1]) as string });
  for (const [i, name] of QUIET.entries())
    await addProvider(quiet, { name, cluster: clusterRef(`provider-${'abc'[i]}`), price: '1.00', payoutAddress: payout.get(name) as string });
  // A third party funds the liar's bond, as a chart's or Pulumi's funding step would.
  await bondFunder.prepare(USDC(BOND));
  await new EscrowClient(chainConfigOf(c), { key: bondFunder.key }).postBond(payout.get(LIAR) as string, probe.tokenAddress, USDC(BOND));
  liar = await startLiar({ provider: LIAR, share: 1 });
  operator = startOperator(ns, operatorChainEnv(c, { FLOTILLA_SLASH_AMOUNT: SLASH }));
  await waitProvidersReady(corner, [LIAR, ...HONEST], operator, 1);
  await waitProvidersReady(quiet, QUIET, operator, 1);
}, 180_000);

afterAll(async () => {
  liar?.stop();
  await operator?.stop();
  await deleteNamespace(hub.core, ns);
  await removeCorner(corner);
  await removeCorner(quiet);
  payer.destroy();
  bondFunder.destroy();
  probe.destroy();
}, 120_000);

/** The same deterministic work every time, verified always, paid; any provider of the corner may run it. */
function verifiedJob(
  name: string,
  runSeconds = 4,
  on: { corner: typeof corner; providers: readonly string[] } = { corner, providers: [LIAR, ...HONEST] },
): AIJobManifest {
  return aijobManifest({
    name,
    namespace: ns,
    args: ['--steps', '300', '--seed', '7'],
    gpu: { products: [on.corner.product] },
    output: { path: '/flotilla/output', pin: false },
    payment: { token: 'USDC', maxAmount: '1' },
    placement: { allowedProviders: [...on.providers] },
    verification: { mode: 'Always', compare: 'Exact' },
    sim: { runSeconds, output: 'steps=300 loss=0.4127', deterministic: true },
  });
}

const settled = (name: string) => waitJob(ns, name, 'Settled', (j) => j.status?.phase === 'Settled' || j.status?.phase === 'Failed', 150_000);
const provider = async (name: string) =>
  (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name })) as GPUProvider;

describe('verified compute against a lying provider', () => {
  let refuted: AIJob;

  it('the liar’s run is re-executed, refuted by two independent runs, not paid, and its bond slashed to the payer and the verifier', async () => {
    const name = uniqueName('lied-to');
    await createJob(verifiedJob(name));
    await fundAs(hub.kc, c, ns, name, payer.key, { amount: '1' });
    refuted = await settled(name);
    const s = refuted.status ?? {};
    const attempts = s.attempts ?? [];
    expect(s.phase).toBe('Settled');
    expect(attempts.map((a) => a.purpose ?? 'Run')).toEqual(['Run', 'Verification', 'Tiebreak']);
    expect(attempts[0]?.provider).toBe(LIAR);
    // Independent: the checks ran on two different honest providers, never on the liar.
    expect(new Set(attempts.slice(1).map((a) => a.provider)).size).toBe(2);
    expect(attempts.slice(1).every((a) => HONEST.includes(a.provider as (typeof HONEST)[number]))).toBe(true);
    expect(liar?.stats.liesTold).toContain(refuted.metadata.uid);
    expect(s.verification).toMatchObject({ state: 'Refuted', liar: { attempt: attempts[0]?.index, provider: LIAR } });
    // The job's output is the one the honest runs agree on, not the lie.
    expect(s.outputCID).toBe(attempts[1]?.outputCID);
    expect(s.outputCID).toBe(attempts[2]?.outputCID);
    expect(s.outputCID).not.toBe(attempts[0]?.outputCID);
    expect(s.conditions?.find((x) => x.type === 'Verified')).toMatchObject({ status: 'True', reason: 'Refuted' });

    // Money: the liar's attempt bills nothing and its payout address is credited nothing.
    expect(attempts[0]?.billableGpuSeconds).toBe(0);
    expect(s.settlement?.amounts?.map((x) => x.provider).sort()).toEqual(
      attempts
        .slice(1)
        .map((a) => a.provider)
        .sort(),
    );
    expect(await probe.owed(payout.get(LIAR) as string)).toBe(0n);
    // The slash: 10 USDC out of the liar's bond, half to the verifier (the first honest re-execution), half to the payer.
    expect(s.settlement?.slash).toMatchObject({ provider: LIAR, amount: SLASH, payoutAddress: payout.get(LIAR) });
    expect(s.settlement?.slash?.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    const bond = (await new EscrowClient(chainConfigOf(c)).bondOf(payout.get(LIAR) as string, probe.tokenAddress)).bonded;
    expect(bond).toBe(USDC(BOND) - USDC(SLASH));
    expect(await new EscrowClient(chainConfigOf(c)).slashedOf(escrowJobIdOf(refuted.metadata.uid ?? ''))).toBe(true);
    const verifierPaid = s.settlement?.amounts?.find((x) => x.provider === attempts[1]?.provider)?.amount ?? '0';
    expect(await probe.owed(payout.get(attempts[1]?.provider ?? '') as string)).toBe(USDC(verifierPaid) + USDC(SLASH) / 2n);
    expect(await probe.owed(payer.address)).toBeGreaterThanOrEqual(USDC(SLASH) / 2n);

    // The liar is marked: reputation, Trusted=False.
    const marked = await pollUntil(
      `${LIAR} marked untrusted`,
      () => provider(LIAR),
      (p) => p.status?.conditions?.find((x) => x.type === 'Trusted')?.status === 'False',
      30_000,
    );
    expect(marked.status?.reputation?.provenMismatches).toBe(1);
  }, 240_000);

  it('after its first proven lie the liar gets no more verifying jobs, though it is the cheapest; an honest run verifies and everybody is paid', async () => {
    expect(refuted).toBeDefined();
    const name = uniqueName('after');
    await createJob(verifiedJob(name));
    await fundAs(hub.kc, c, ns, name, payer.key, { amount: '1' });
    const job = await settled(name);
    const attempts = job.status?.attempts ?? [];
    expect(job.status?.phase).toBe('Settled');
    expect(attempts.map((a) => a.provider)).not.toContain(LIAR);
    expect(attempts.map((a) => a.purpose ?? 'Run')).toEqual(['Run', 'Verification']);
    expect(job.status?.verification).toMatchObject({ state: 'Verified' });
    expect(job.status?.verification).not.toHaveProperty('liar');
    // The same work, the same output as the honest runs of the refuted job.
    expect(job.status?.outputCID).toBe(refuted.status?.outputCID);
    expect(job.status?.settlement?.slash).toBeUndefined();
    expect(job.status?.settlement?.amounts?.length).toBe(2);
  }, 240_000);

  it('a re-execution taken back by its provider mid-run recovers like any attempt, on another provider, and the run still verifies', async () => {
    const name = uniqueName('preempted-check');
    await createJob(verifiedJob(name, 15, { corner: quiet, providers: QUIET }));
    await fundAs(hub.kc, c, ns, name, payer.key, { amount: '1' });
    // Wait for the re-execution to run, then take its pod away at its provider (PodDeleted).
    const checking = await waitJob(
      ns,
      name,
      'a running re-execution',
      (j) => j.status?.attempts?.at(-1)?.purpose === 'Verification' && j.status.conditions?.find((x) => x.type === 'Running')?.status === 'True',
      90_000,
    );
    const check = checking.status?.attempts?.at(-1);
    expect(checking.status?.phase).toBe('Verifying');
    const { cluster } = quiet.providers.get(check?.provider ?? '') ?? {};
    const [pod] = await jobPods(quiet, check?.provider ?? '', checking.metadata.uid ?? '');
    await cluster?.core.deleteNamespacedPod({ name: pod?.metadata?.name ?? '', namespace: quiet.lentNamespace, gracePeriodSeconds: 0 });

    const job = await waitJob(ns, name, 'Settled', (j) => j.status?.phase === 'Settled' || j.status?.phase === 'Failed', 150_000);
    const attempts = job.status?.attempts ?? [];
    expect(job.status?.phase).toBe('Settled');
    expect(attempts.map((a) => [a.purpose ?? 'Run', a.reason])).toEqual([
      ['Run', 'Succeeded'],
      ['Verification', 'Preempted: PodDeleted'],
      ['Verification', 'Succeeded'],
    ]);
    // Replaced elsewhere: three different providers.
    expect(new Set(attempts.map((a) => a.provider)).size).toBe(3);
    expect(job.status?.verification).toMatchObject({ state: 'Verified' });
    expect(job.status?.verification).not.toHaveProperty('liar');
    // Preempted re-executions do not count against spec.recovery.maxRestarts, and nobody is slashed.
    expect(job.status?.settlement?.slash).toBeUndefined();
  }, 240_000);

  it('Checker mode: runs whose outputs differ in bits are judged by the checker, which accepts them; the run is verified and paid', async () => {
    const name = uniqueName('checked');
    await createJob(
      aijobManifest({
        name,
        namespace: ns,
        args: ['--steps', '300', '--seed', '7'],
        gpu: { products: [quiet.product] },
        output: { path: '/flotilla/output', pin: false },
        payment: { token: 'USDC', maxAmount: '1' },
        placement: { allowedProviders: [...QUIET] },
        verification: {
          mode: 'Always',
          compare: 'Checker',
          checker: { image: `registry.example/checker@sha256:${'c'.repeat(64)}`, args: ['--tolerance', '0.05'] },
        },
        sim: { runSeconds: 4, output: 'steps=300 loss=0.4127 accuracy=0.9120', deterministic: true },
        // Not bit-reproducible: every run's decimals move by up to ±0.001; the stand-in checker allows 5 %.
        podAnnotations: { 'sim.flotilla.dev/noise': '0.001', 'sim.flotilla.dev/checker-tolerance': '0.05' },
      }),
    );
    await fundAs(hub.kc, c, ns, name, payer.key, { amount: '1' });
    const job = await waitJob(ns, name, 'Settled', (j) => j.status?.phase === 'Settled' || j.status?.phase === 'Failed', 150_000);
    const attempts = job.status?.attempts ?? [];
    expect(job.status?.phase).toBe('Settled');
    expect(attempts.map((a) => [a.purpose ?? 'Run', a.reason])).toEqual([
      ['Run', 'Succeeded'],
      ['Verification', 'Succeeded'],
      ['Check', 'Succeeded'],
    ]);
    // The two runs differ in bits; the checker ran on a third provider and accepted the original.
    expect(attempts[0]?.outputCID).not.toBe(attempts[1]?.outputCID);
    expect(new Set(attempts.map((a) => a.provider)).size).toBe(3);
    expect(job.status?.verification).toMatchObject({ state: 'Verified', compare: 'Checker' });
    expect(job.status?.outputCID).toBe(attempts[0]?.outputCID);
    expect(job.status?.settlement?.amounts?.length).toBe(3);
    expect(job.status?.settlement?.slash).toBeUndefined();
  }, 240_000);
});
