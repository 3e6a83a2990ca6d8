// Gas per settled job, one settle() per job vs settleBatch() of 10, 50 and 100, on a fresh anvil
// with the freshly compiled escrow; and what that means in settlements per second.
//
//   node bench/settlement-gas.ts
//
// "warm": the providers and the payer already hold a credit in the escrow (the steady state of a
// running federation: a provider is paid many times before it withdraws). "cold": every provider
// receives its first credit, so each share writes a fresh storage slot (+17.1k gas).
import { parseUnits } from 'ethers';
import { Role, address, deployEscrowStack, mined, startChain } from '../test/support/escrow-fixture.ts';
import { measureSettlementGas } from '../test/support/settlement-gas.ts';
import type { GasMeasurement } from '../test/support/settlement-gas.ts';

const BLOCK_GAS_LIMIT = 30_000_000n; // anvil's default; Ethereum mainnet targets half of its 36M limit
const BLOCK_TIMES = [
  ['Ethereum L1', 12],
  ['OP Stack / Base L2', 2],
] as const;

const runs: { jobs: number; batchSize: number; providersPerJob: number; warm: boolean }[] = [
  { jobs: 20, batchSize: 1, providersPerJob: 1, warm: true },
  { jobs: 50, batchSize: 10, providersPerJob: 1, warm: true },
  { jobs: 100, batchSize: 50, providersPerJob: 1, warm: true },
  { jobs: 100, batchSize: 100, providersPerJob: 1, warm: true },
  { jobs: 20, batchSize: 1, providersPerJob: 2, warm: true },
  { jobs: 50, batchSize: 10, providersPerJob: 2, warm: true },
  { jobs: 100, batchSize: 50, providersPerJob: 2, warm: true },
  { jobs: 10, batchSize: 1, providersPerJob: 1, warm: false },
  { jobs: 50, batchSize: 50, providersPerJob: 1, warm: false },
];

const chain = await startChain();
try {
  const s = await deployEscrowStack(chain);

  // The yardstick: a plain ERC-20 transfer, to an account that holds the token and to a new one.
  const payer = address(chain, Role.payer);
  await mined(s.token.mint(payer, parseUnits('10', 6)));
  await mined(s.token.mint(address(chain, Role.outsider), 1n));
  const transferGas = (await mined(s.tokenAs(Role.payer).transfer(address(chain, Role.outsider), parseUnits('1', 6)))).gasUsed;
  const transferToNewGas = (await mined(s.tokenAs(Role.payer).transfer(address(chain, Role.providerB), parseUnits('1', 6)))).gasUsed;

  const results: GasMeasurement[] = [];
  for (const [i, run] of runs.entries()) {
    results.push(await measureSettlementGas(chain, s, { ...run, label: `bench-${i}` }));
  }

  const rows = results.map((m) => {
    const perBlock = BLOCK_GAS_LIMIT / m.gasPerJob;
    return [
      m.mode === 'single' ? 'settle' : `settleBatch(${m.batchSize})`,
      m.warm ? 'warm' : 'cold',
      String(m.providersPerJob),
      m.gasPerJob.toLocaleString('en-US'),
      `${((Number(m.gasPerJob) / Number(transferGas)) * 100).toFixed(0)}%`,
      perBlock.toLocaleString('en-US'),
      ...BLOCK_TIMES.map(([, seconds]) => (Number(perBlock) / seconds).toFixed(0)),
      (m.jobs / (m.wallMs / 1000)).toFixed(0),
    ];
  });
  const header = [
    'call',
    'credits',
    'providers/job',
    'gas/job',
    'vs transfer to a holder',
    'jobs/30M block',
    ...BLOCK_TIMES.map(([name, seconds]) => `jobs/s ${name} (${seconds}s)`),
    'jobs/s on this anvil',
  ];
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  process.stdout.write(
    [
      `Settlement gas on anvil (${chain.node.rpcUrl}), FlotillaEscrow compiled with solc, optimizer runs=10000, evm cancun`,
      `plain ERC-20 transfer (TestStablecoin): ${transferGas.toLocaleString('en-US')} gas to a holder, ${transferToNewGas.toLocaleString('en-US')} gas to a new holder`,
      '',
      line(header),
      line(header.map(() => '---')),
      ...rows.map(line),
      '',
      'jobs/s on this anvil: automine, one transaction at a time, sent and awaited from one key (a latency figure, not chain capacity).',
      '',
    ].join('\n'),
  );
} finally {
  await chain.stop();
}
