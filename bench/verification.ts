// The lying-provider run of issue 19 (verified compute). A script that prints numbers, not a test.
// Needs a running federation (make federation-up) whose executor and escrow are current.
//
//   node bench/verification.ts [--jobs 200] [--share 0.5] [--sample-rate 0.1] [--run-seconds 3]
//                              [--in-flight 16] [--bond 5] [--seed s] [--json out.json]
//
// On a private corner (test/support/corner.ts: own GPU product, nodes and lent namespace in provider-a/b/c,
// one honest GPUProvider in each, each with a payout address of its own) plus a liar — a GPUProvider
// on a provider cluster of the bench's own (kwok, with the federation's simulated executor in this
// process), the cheapest, so it gets work, with a bond posted in the escrow — and the real operator
// with the federation's chain, N paid deterministic single-GPU jobs are applied, at most --in-flight
// unfinished at a time, each with spec.verification {mode: SpotCheck, sampleRate, compare: Exact}.
// The liar (test/support/lying-provider.ts) skips the work and reports a wrong output CID for
// --share of the jobs it gets. Then it reports:
//
//   lies told, lies caught / lies told, jobs until the first catch,
//   the liar's pay before and after its first proven lie, the bond slashed,
//   each honest provider's pay against what its metered attempts cost (to the base unit),
//   whether the liar got any attempt after its first proven lie, and the machine's load.
//
// Everything it made is removed at the end (jobs, operator, GPUProviders, nodes, namespaces, the
// liar's cluster).
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { loadArtifact } from '../contracts/artifacts.ts';
import { chainEnv } from '../federation/chain-contracts.ts';
import { createCluster, deleteCluster } from '../federation/clusters.ts';
import { runExecutor } from '../federation/executor.ts';
import { toolPaths } from '../federation/paths.ts';
import { OPERATOR_NAMESPACE } from '../federation/register.ts';
import { AIJOB, GPUPROVIDER, GROUP, VERSION } from '../operator/api/group.ts';
import type { AIJob, AIJobManifest, GPUProvider } from '../operator/api/types.ts';
import { PAYERS_ANNOTATION } from '../operator/core/funding.ts';
import { attemptPrice, billableGpuSecondsOf, costOf } from '../operator/core/metering.ts';
import { fromBaseUnits, toBaseUnits } from '../operator/core/money.ts';
import { loadChainConfig } from '../operator/payments/chain-config.ts';
import { fundJob } from '../operator/payments/fund.ts';
import { holdsSettlement } from '../operator/payments/job-status.ts';
import { aijobManifest } from '../test/support/aijob.ts';
import { addProvider, clusterRef, listJobs, openCorner, removeCorner, waitNodesReady } from '../test/support/corner.ts';
import type { OpenCorner as Corner } from '../test/support/corner.ts';
import { clusterClients, federation, pollUntil } from '../test/support/federation.ts';
import { startLiar } from '../test/support/lying-provider.ts';
import type { Liar } from '../test/support/lying-provider.ts';
import { startOperator } from '../test/support/operator.ts';
import type { OperatorProcess } from '../test/support/operator.ts';
import { inParallel } from '../test/support/parallel.ts';

interface Options {
  readonly jobs: number;
  readonly share: number;
  readonly sampleRate: number;
  readonly runSeconds: number;
  readonly inFlight: number;
  /** Token units the liar posts as bond. */
  readonly bond: string;
  readonly honestPrice: string;
  readonly liarPrice: string;
  readonly seed?: string;
  readonly json?: string;
  /** Give up waiting for the jobs after this many seconds (the report covers what finished). */
  readonly timeoutSeconds: number;
}

export function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (flag: string, dflt: number, ok: (n: number) => boolean) => {
    const raw = value(flag);
    const n = raw === undefined ? dflt : Number(raw);
    if (!Number.isFinite(n) || !ok(n)) throw new Error(`${flag} ${raw}: out of range`);
    return n;
  };
  const seed = value('--seed');
  const json = value('--json');
  return {
    jobs: num('--jobs', 200, (n) => Number.isInteger(n) && n > 0),
    share: num('--share', 0.5, (n) => n >= 0 && n <= 1),
    sampleRate: num('--sample-rate', 0.1, (n) => n >= 0 && n <= 1),
    runSeconds: num('--run-seconds', 3, (n) => n > 0),
    inFlight: num('--in-flight', 16, (n) => Number.isInteger(n) && n > 0),
    bond: value('--bond') ?? '5',
    honestPrice: value('--honest-price') ?? '2.00',
    liarPrice: value('--liar-price') ?? '1.00',
    timeoutSeconds: num('--timeout', 3600, (n) => n > 0),
    ...(seed !== undefined ? { seed } : {}),
    ...(json !== undefined ? { json } : {}),
  };
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const load = () => loadavg().map((l) => Number(l.toFixed(2)));
const custom = () => clusterClients('hub').kc.makeApiClient(CustomObjectsApi);
/** Done for the bench: settled on chain, or failed with nothing left to settle (the settlement finalizer gone). */
const isDone = (j: AIJob | undefined): boolean =>
  j !== undefined &&
  (j.status?.phase === 'Settled' ||
    j.status?.conditions?.some((c) => c.type === 'Settled' && c.status === 'True') === true ||
    (j.status?.phase === 'Failed' && !holdsSettlement(j)));

/** The chain as the bench reaches it: escrow and token contracts, and a funded key of its own. */
class BenchChain {
  readonly provider: JsonRpcProvider;
  readonly escrow: Contract;
  readonly token: Contract;
  readonly tokenAddress: string;
  readonly decimals: number;
  readonly env: Record<string, string>;

  constructor() {
    const ep = federation();
    if (!ep.chain) throw new Error('the federation has no contracts deployed (federation up deploys them)');
    this.env = { ...chainEnv(ep.anvil, ep.chain), FLOTILLA_CHAIN_POLL_MS: '1000', FLOTILLA_SETTLEMENT_BATCH_MS: '300' };
    this.provider = new JsonRpcProvider(ep.anvil.rpcUrl, ep.anvil.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    const token = ep.chain.tokens[0];
    if (!token) throw new Error('the federation has no token');
    this.tokenAddress = token.address;
    this.decimals = token.decimals;
    this.escrow = new Contract(ep.chain.escrow, loadArtifact('FlotillaEscrow').abi, this.provider);
    this.token = new Contract(token.address, loadArtifact('TestStablecoin').abi, this.provider);
  }

  /** A random key with ETH (anvil_setBalance) and `amount` test tokens (the token's open mint). */
  async fundedWallet(amount: bigint): Promise<NonceManager> {
    const wallet = new NonceManager(new Wallet(Wallet.createRandom().privateKey, this.provider));
    const address = await wallet.getAddress();
    await this.provider.send('anvil_setBalance', [address, '0x56BC75E2D63100000']);
    await (await (this.token.connect(wallet) as Contract).getFunction('mint')(address, amount)).wait();
    return wallet;
  }

  owed(address: string): Promise<bigint> {
    return this.escrow.getFunction('owed').staticCall(address, this.tokenAddress) as Promise<bigint>;
  }

  /** Posts `amount` as `provider`'s bond from a key of the bench's; a reason string when the escrow cannot. */
  async postBond(provider: string, amount: bigint): Promise<string | undefined> {
    if (!this.escrow.interface.getFunction('postBond')) return 'the escrow ABI has no postBond';
    try {
      const funder = await this.fundedWallet(amount);
      await (await (this.token.connect(funder) as Contract).getFunction('approve')(await this.escrow.getAddress(), amount)).wait();
      await (await (this.escrow.connect(funder) as Contract).getFunction('postBond')(provider, this.tokenAddress, amount)).wait();
      return undefined;
    } catch (err) {
      return `postBond failed (is the deployed escrow older than contracts/FlotillaEscrow.sol? restart the federation): ${String(err).slice(0, 200)}`;
    }
  }

  /** bonded + unbonding of `provider`, or undefined when the deployed escrow has no bonds. */
  async bondOf(provider: string): Promise<bigint | undefined> {
    if (!this.escrow.interface.getFunction('bondOf')) return undefined;
    try {
      const [bonded, unbonding] = (await this.escrow.getFunction('bondOf').staticCall(provider, this.tokenAddress)) as [bigint, bigint, bigint];
      return bonded + unbonding;
    } catch {
      return undefined;
    }
  }

  /** Slashed events of `provider`: what left its bond, and what each verifier address was credited. */
  async slashes(provider: string): Promise<{ total: bigint; count: number; toVerifier: Map<string, bigint> }> {
    const toVerifier = new Map<string, bigint>();
    const filter = this.escrow.filters.Slashed?.(null, provider);
    if (!filter) return { total: 0n, count: 0, toVerifier };
    const logs = await this.escrow.queryFilter(filter, 0, 'latest');
    let total = 0n;
    for (const l of logs) {
      const args = (l as unknown as { args: { slashed: bigint; toVerifier: bigint; verifier: string } }).args;
      total += args.slashed;
      const v = args.verifier.toLowerCase();
      toVerifier.set(v, (toVerifier.get(v) ?? 0n) + args.toVerifier);
    }
    return { total, count: logs.length, toVerifier };
  }

  destroy(): void {
    this.provider.destroy();
  }
}

/** The liar: a provider cluster of the bench's own and its hub Secret; its GPUProvider is one of the corner's. */
interface LiarCluster {
  readonly cluster: string;
  readonly provider: string;
  readonly secret: string;
  readonly payoutAddress: string;
  stopExecutor(): void;
}

async function createLiarCluster(corner: Corner, price: string, payoutAddress: string): Promise<LiarCluster> {
  const ep = federation();
  const tools = toolPaths();
  const cluster = `vb-${corner.id}-liar`;
  const provider = `${corner.hubNamespace}-liar`;
  const secret = `provider-${cluster}-kubeconfig`;
  const info = await createCluster(ep.stateDir, cluster, 'provider', tools);
  const kubeconfig = readFileSync(info.kubeconfig, 'utf8');
  const hub = clusterClients('hub').core;
  await hub.createNamespacedSecret({ namespace: OPERATOR_NAMESPACE, body: { metadata: { name: secret }, stringData: { kubeconfig } } });
  // The simulated containers of this cluster: the federation's executor, in this process.
  const stopExecutor = runExecutor({ providers: [{ name: cluster, kubeconfig: info.kubeconfig }], kuboApi: ep.kubo.provider.api }, (msg, fields) => {
    // Quiet: one line per pod would bury the report; failures still show.
    if (/fail/.test(msg)) process.stderr.write(`executor ${cluster}: ${msg} ${JSON.stringify(fields ?? {})}\n`);
  });
  await addProvider(corner, { name: provider, cluster: clusterRef(cluster, info.kubeconfig), secretName: secret, price, payoutAddress, nodes: 1 });
  await waitNodesReady(corner, provider);
  return { cluster, provider, secret, payoutAddress, stopExecutor };
}

async function removeLiarCluster(liar: LiarCluster): Promise<void> {
  liar.stopExecutor();
  await custom()
    .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: liar.provider })
    .catch(() => undefined);
  await clusterClients('hub')
    .core.deleteNamespacedSecret({ name: liar.secret, namespace: OPERATOR_NAMESPACE })
    .catch(() => undefined);
  await deleteCluster(federation().stateDir, liar.cluster, toolPaths()).catch(() => undefined);
}

/** Job i: its own deterministic work (args and output differ per job, so the jobs' CIDs do too). */
function benchJob(corner: Corner, i: number, opts: Options): AIJobManifest {
  return aijobManifest({
    name: `v-${String(i).padStart(4, '0')}`,
    namespace: corner.hubNamespace,
    image: 'registry.example/trainer@sha256:' + 'e'.repeat(64),
    args: ['--steps', '300', '--seed', String(i)],
    gpu: { products: [corner.product] },
    output: { path: '/flotilla/output', pin: false },
    payment: { token: 'USDC', maxAmount: '0.10' },
    recovery: { maxRestarts: 2, strategy: 'Failover' },
    verification: { mode: 'SpotCheck', sampleRate: opts.sampleRate, compare: 'Exact' },
    sim: { runSeconds: opts.runSeconds, output: `job ${i}: steps=300 loss=0.${String(4000 + ((i * 7919) % 5000)).padStart(4, '0')}`, deterministic: true },
  });
}

/** What the bench saw of each job, on its own clock: when it first showed each phase and verification state. */
class Observer {
  readonly firstSeen = new Map<string, Map<string, number>>();
  latest = new Map<string, AIJob>();

  note(jobs: readonly AIJob[], now = Date.now()): void {
    for (const j of jobs) {
      const name = j.metadata.name ?? '';
      this.latest.set(name, j);
      const seen = this.firstSeen.get(name) ?? new Map<string, number>();
      this.firstSeen.set(name, seen);
      const marks = [
        `phase:${j.status?.phase ?? 'Pending'}`,
        ...(j.status?.verification?.state ? [`verification:${j.status.verification.state}`] : []),
        ...(isDone(j) ? ['done'] : []),
      ];
      for (const m of marks) if (!seen.has(m)) seen.set(m, now);
    }
  }

  at(name: string, mark: string): number | undefined {
    return this.firstSeen.get(name)?.get(mark);
  }
}

const tokens = (units: bigint, decimals: number) => `${fromBaseUnits(units, decimals)} USDC`;

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const loadStart = load();
  const t0 = Date.now();
  log(`# verified compute: the lying-provider run`);
  log(
    `jobs ${opts.jobs}, liar share ${opts.share}, sample rate ${opts.sampleRate}, run ${opts.runSeconds} s, in flight ≤ ${opts.inFlight}, bond ${opts.bond} USDC`,
  );
  log(`load at start (1/5/15 min): ${loadStart.join(' / ')}`);

  const chain = new BenchChain();
  const payouts = new Map<string, string>();
  let corner: Corner | undefined;
  let liarCluster: LiarCluster | undefined;
  let liar: Liar | undefined;
  let operator: OperatorProcess | undefined;
  try {
    corner = await openCorner({
      prefix: 'vbench',
      clusters: ['provider-a', 'provider-b', 'provider-c'],
      nodesPerProvider: 1,
      price: opts.honestPrice,
      waitReady: true,
      log,
    });
    const c = corner;
    // Each provider has a payout address of its own (the corner's are random): the verifier must not
    // share the original's, and the pay of each is read from the escrow's credits to it.
    for (const p of c.providers.values()) payouts.set(p.name, p.payoutAddress);
    const liarPayout = Wallet.createRandom().address;
    liarCluster = await createLiarCluster(c, opts.liarPrice, liarPayout);
    payouts.set(liarCluster.provider, liarPayout);
    log(`  liar ${liarCluster.provider}: own cluster ${liarCluster.cluster}, 1 node × 8 GPUs at ${opts.liarPrice}/GPU-hour (honest: ${opts.honestPrice})`);

    const bondUnits = toBaseUnits(opts.bond, chain.decimals);
    const bondProblem = await chain.postBond(liarPayout, bondUnits);
    const bondBefore = await chain.bondOf(liarPayout);
    log(`  liar's bond: ${bondProblem ?? (bondBefore !== undefined ? tokens(bondBefore, chain.decimals) : 'unreadable')}`);

    const payer = await chain.fundedWallet(toBaseUnits(String(opts.jobs * 0.1 + 1), chain.decimals));
    const payerKey = (payer.signer as Wallet).privateKey;
    const hubCore = clusterClients('hub').core;
    await hubCore.patchNamespace(
      { name: c.hubNamespace, body: { metadata: { annotations: { [PAYERS_ANNOTATION]: await payer.getAddress() } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const owedBefore = new Map<string, bigint>();
    for (const [p, a] of payouts) owedBefore.set(p, await chain.owed(a));

    liar = await startLiar({ provider: liarCluster.provider, share: opts.share, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) });
    log(`  liar started (seed ${liar.seed})`);
    operator = startOperator(c.hubNamespace, chain.env);
    const metrics = `${await operator.httpUrl()}/metrics`;
    const names = [...c.providers.keys()];
    await pollUntil(
      `the operator's view: ${names.join(', ')} ready`,
      () =>
        fetch(metrics)
          .then((r) => r.text())
          .catch(() => ''),
      (text) => names.every((p) => text.includes(`flotilla_provider_ready{provider="${p}"} 1`)),
      120_000,
      500,
    );
    log(`  operator ${operator.logFile}`);

    // Apply the jobs, at most --in-flight unfinished (not yet Settled or Failed) at a time, funding each.
    const observer = new Observer();
    const chainConfig = loadChainConfig(chain.env);
    if (!chainConfig) throw new Error('no chain config');
    const created: string[] = [];
    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    let next = 0;
    let lastLine = 0;
    while (Date.now() < deadline) {
      observer.note(await listJobs(c.hubNamespace));
      const open = created.filter((n) => !isDone(observer.latest.get(n)));
      if (next >= opts.jobs && open.length === 0) break;
      const room = Math.min(opts.inFlight - open.length, opts.jobs - next);
      const batch = Array.from({ length: Math.max(0, room) }, () => next++);
      await inParallel(batch, 4, async (i) => {
        const manifest = benchJob(c, i, opts);
        await custom().createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: c.hubNamespace, body: manifest });
        created.push(manifest.metadata.name ?? '');
      });
      // One payer key: deposits one at a time (its nonces).
      for (const i of batch)
        await fundJob({
          hub: clusterClients('hub').kc,
          namespace: c.hubNamespace,
          name: benchJob(c, i, opts).metadata.name ?? '',
          chain: chainConfig,
          payerKey,
        });
      if (Date.now() - lastLine > 15_000) {
        lastLine = Date.now();
        const phases = [...observer.latest.values()].reduce<Record<string, number>>(
          (m, j) => ({ ...m, [j.status?.phase ?? 'Pending']: (m[j.status?.phase ?? 'Pending'] ?? 0) + 1 }),
          {},
        );
        log(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: ${created.length} applied, ${JSON.stringify(phases)}, lies ${liar.stats.liesTold.length}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    observer.note(await listJobs(c.hubNamespace));
    const timedOut = created.some((n) => !isDone(observer.latest.get(n)));

    // ── the numbers ──
    const jobs = created.map((n) => observer.latest.get(n)).filter((j): j is AIJob => j !== undefined);
    const L = liarCluster.provider;
    const runOf = (j: AIJob) => j.status?.attempts?.find((a) => (a.purpose ?? 'Run') === 'Run');
    const lied = new Set(liar.stats.liesTold);
    // A lie told about a job's own run (the liar also lies when it re-executes a job it drew).
    const liedRuns = jobs.filter((j) => runOf(j)?.provider === L && lied.has(j.metadata.uid ?? ''));
    // Caught: a verdict names the liar — as the original run (Refuted) or as a re-execution that a
    // tiebreak proved wrong (Verified, with a liar).
    const caught = jobs.filter((j) => j.status?.verification?.liar?.provider === L);
    const caughtAsRun = caught.filter((j) => j.status?.verification?.state === 'Refuted');
    const refutedAt = (j: AIJob) => observer.at(j.metadata.name ?? '', `verification:${j.status?.verification?.state ?? ''}`) ?? Infinity;
    const firstCatch = [...caught].sort((a, b) => refutedAt(a) - refutedAt(b))[0];
    const firstCatchAt = firstCatch ? refutedAt(firstCatch) : Infinity;
    const firstCatchIndex = firstCatch ? created.indexOf(firstCatch.metadata.name ?? '') + 1 : undefined;
    const liesBeforeCatch = liar.stats.lies.filter((l) => l.at.getTime() <= firstCatchAt).length;

    // The liar's pay from the settlements, split at the first proven lie (by when the bench saw the job settle).
    const paidTo = (j: AIJob, provider: string) =>
      (j.status?.settlement?.amounts ?? []).filter((a) => a.provider === provider).reduce((s, a) => s + toBaseUnits(a.amount, chain.decimals), 0n);
    let liarBefore = 0n;
    let liarAfter = 0n;
    for (const j of jobs) {
      const settled = observer.at(j.metadata.name ?? '', 'done') ?? Infinity;
      if (settled <= firstCatchAt) liarBefore += paidTo(j, L);
      else liarAfter += paidTo(j, L);
    }
    const liarOwed = (await chain.owed(liarPayout)) - (owedBefore.get(L) ?? 0n);
    const bondAfter = await chain.bondOf(liarPayout);
    const slashes = await chain.slashes(liarPayout);
    const liarAttemptsAfter = jobs.flatMap((j) => (j.status?.attempts ?? []).filter((a) => a.provider === L && Date.parse(a.startTime ?? '') > firstCatchAt));

    // Honest pay: the escrow's credit to each payout address against what its metered attempts cost.
    const honest: Array<Record<string, string | boolean>> = [];
    for (const name of [...c.providers.keys()].filter((n) => n !== L)) {
      const address = payouts.get(name) ?? '';
      const credited = (await chain.owed(address)) - (owedBefore.get(name) ?? 0n);
      let metered = 0n;
      for (const j of jobs) {
        const status = j.status;
        if (!isDone(j) || !status) continue;
        for (const a of status.attempts ?? []) {
          if (a.provider !== name) continue;
          const price = attemptPrice(status, a);
          if (price !== undefined) metered += costOf(billableGpuSecondsOf(a), toBaseUnits(price, chain.decimals));
        }
      }
      const fromSlash = slashes.toVerifier.get(address.toLowerCase()) ?? 0n;
      honest.push({
        provider: name,
        credited: tokens(credited, chain.decimals),
        metered: tokens(metered, chain.decimals),
        verifierShareOfSlashes: tokens(fromSlash, chain.decimals),
        equal: credited === metered + fromSlash,
      });
    }
    const phases = jobs.reduce<Record<string, number>>((m, j) => ({ ...m, [j.status?.phase ?? 'Pending']: (m[j.status?.phase ?? 'Pending'] ?? 0) + 1 }), {});
    const states = jobs.reduce<Record<string, number>>(
      (m, j) => ({ ...m, [j.status?.verification?.state ?? '(none)']: (m[j.status?.verification?.state ?? '(none)'] ?? 0) + 1 }),
      {},
    );
    const gp = (await custom().getClusterCustomObject({ group: GROUP, version: VERSION, plural: GPUPROVIDER.plural, name: L })) as GPUProvider;
    const trusted = gp.status?.conditions?.find((x) => x.type === 'Trusted');
    const loadEnd = load();

    const report = {
      options: opts,
      seconds: Math.round((Date.now() - t0) / 1000),
      timedOut,
      phases,
      verificationStates: states,
      liesTold: liar.stats.liesTold.length,
      liesToldAboutRuns: liedRuns.length,
      liesCaught: caught.length,
      liesCaughtAsRun: caughtAsRun.length,
      jobsUntilFirstCatch: firstCatchIndex ?? null,
      liesBeforeFirstCatch: firstCatch ? liesBeforeCatch : null,
      liarPaidBeforeFirstCatch: tokens(liarBefore, chain.decimals),
      liarPaidAfterFirstCatch: tokens(liarAfter, chain.decimals),
      liarCreditedInEscrow: tokens(liarOwed, chain.decimals),
      bond: { posted: bondProblem ?? opts.bond, before: bondBefore ?? null, after: bondAfter ?? null },
      bondSlashed: tokens(slashes.total, chain.decimals),
      slashes: slashes.count,
      liarAttemptsAfterFirstCatch: liarAttemptsAfter.length,
      liarReputation: { provenMismatches: gp.status?.reputation?.provenMismatches ?? null, trusted: trusted ? `${trusted.status} (${trusted.reason})` : null },
      honest,
      honestPayEqualsMetered: honest.every((h) => h.equal === true),
      loadStart,
      loadEnd,
    };
    log('');
    log(`## results (${report.seconds} s${timedOut ? `, TIMED OUT after ${opts.timeoutSeconds} s: the numbers cover what finished` : ''})`);
    log(`phases ${JSON.stringify(phases)}; verification ${JSON.stringify(states)}`);
    log(`lies told: ${report.liesTold} jobs (${report.liesToldAboutRuns} about the job's own run)`);
    log(
      `lies caught / lies told: ${caught.length} / ${report.liesTold} (about the job's own run: ${caughtAsRun.length} / ${liedRuns.length}; as a re-execution: ${caught.length - caughtAsRun.length} / ${report.liesTold - liedRuns.length})`,
    );
    log(
      `jobs until the first catch: ${firstCatchIndex ?? 'no catch'}${firstCatch ? ` (job ${firstCatch.metadata.name}; ${liesBeforeCatch} lies told by then)` : ''}`,
    );
    log(
      `liar paid before / after its first proven lie: ${report.liarPaidBeforeFirstCatch} / ${report.liarPaidAfterFirstCatch} (escrow credit ${report.liarCreditedInEscrow})`,
    );
    log(
      `bond: ${bondBefore !== undefined ? tokens(bondBefore, chain.decimals) : '—'} → ${bondAfter !== undefined ? tokens(bondAfter, chain.decimals) : '—'}; slashed ${report.bondSlashed} in ${slashes.count} slash(es)`,
    );
    log(`liar's attempts after its first proven lie: ${liarAttemptsAfter.length}`);
    log(`liar's reputation: provenMismatches ${report.liarReputation.provenMismatches ?? '—'}, Trusted ${report.liarReputation.trusted ?? '—'}`);
    for (const h of honest)
      log(`honest ${h.provider}: credited ${h.credited} = metered ${h.metered} + verifier share ${h.verifierShareOfSlashes}? ${h.equal ? 'yes' : 'NO'}`);
    log(`load at end (1/5/15 min): ${loadEnd.join(' / ')}`);
    if (opts.json)
      writeFileSync(
        opts.json,
        JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2),
      );
  } finally {
    log('');
    log('cleaning up');
    liar?.stop();
    if (corner) {
      // Jobs first, with the operator still there to take its finalizers off and delete the pods.
      const c = corner;
      const jobs = await listJobs(c.hubNamespace).catch(() => []);
      await inParallel(jobs, 8, async (j) => {
        await custom()
          .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: AIJOB.plural, namespace: c.hubNamespace, name: j.metadata.name ?? '' })
          .catch(() => undefined);
      });
      await pollUntil(
        'the jobs gone',
        () => listJobs(c.hubNamespace).catch(() => []),
        (l) => l.length === 0,
        180_000,
        1000,
      ).catch(() => log('  some jobs are still there (the namespace deletion takes them)'));
    }
    await operator?.stop();
    // The corner first (the liar's GPUProvider, node and lent namespace too), then the liar's cluster.
    if (corner) await removeCorner(corner, { wait: true, log });
    if (liarCluster) await removeLiarCluster(liarCluster);
    chain.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
