// The provider side of bonds through the real `flotilla` binary (provider bond / unbond /
// bond-withdraw) and the settlement side through the operator's adapter (EscrowClient.slash), both
// against a private anvil with the freshly compiled escrow — the federation's escrow may predate
// bonds, so this suite deploys its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUnits } from 'ethers';
import { loadChainConfig } from '../../operator/payments/chain-config.ts';
import type { ChainConfig } from '../../operator/payments/chain-config.ts';
import { EscrowClient } from '../../operator/payments/escrow-client.ts';
import { runFlotilla } from '../support/cli.ts';
import {
  CHAIN_SETUP_TIMEOUT_MS,
  DEV_KEYS,
  Role,
  address,
  connectAs,
  deployEscrowStack,
  fund,
  increaseTime,
  jobIdOf,
  latestTimestamp,
  mined,
  signer,
  startChain,
} from '../support/escrow-fixture.ts';
import type { Chain, EscrowStack } from '../support/escrow-fixture.ts';

const usd = (amount: string): bigint => parseUnits(amount, 6);
const FUNDER = 7;
const VERIFIER = 6;

describe('provider bonds through the flotilla CLI and the escrow adapter', () => {
  let chain: Chain;
  let s: EscrowStack;
  let tokenAddress: string, providerA: string, funder: string, verifier: string;
  let env: Record<string, string>;
  let config: ChainConfig;
  let dir: string;
  const keyFile = (index: number): string => {
    const file = join(dir, `account-${index}.key`);
    writeFileSync(file, `${DEV_KEYS[index]}\n`, { mode: 0o600 });
    return file;
  };

  beforeAll(async () => {
    chain = await startChain();
    s = await deployEscrowStack(chain);
    tokenAddress = await s.token.getAddress();
    [providerA, funder, verifier] = [Role.providerA, FUNDER, VERIFIER].map((i) => address(chain, i)) as [string, string, string];
    // Minted but not approved: the CLI approves the escrow itself.
    await mined(s.token.mint(providerA, usd('1000')));
    await mined(s.token.mint(funder, usd('1000')));
    await fund(chain, s.token, s.escrow, Role.payer, usd('1000'));
    dir = mkdtempSync(join(tmpdir(), 'flotilla-bond-cli-'));
    env = {
      FLOTILLA_CHAIN_RPC: chain.node.rpcUrl,
      FLOTILLA_CHAIN_ID: String(chain.node.chainId),
      FLOTILLA_ESCROW_ADDRESS: await s.escrow.getAddress(),
      FLOTILLA_TOKENS: `USDC=${tokenAddress}:6`,
      FLOTILLA_PAYOUT_KEY_FILE: '',
    };
    const loaded = loadChainConfig(env);
    if (!loaded) throw new Error('no chain config');
    config = loaded;
  }, CHAIN_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const bondOf = async (who: string) => [...(await s.escrow.bondOf(who, tokenAddress))];

  it("provider bond posts the key's own bond (approving first), and a funder's --for posts for another provider", async () => {
    const own = await runFlotilla(['provider', 'bond', '--amount', '100', '--token', 'USDC', '--key-file', keyFile(Role.providerA)], env);
    expect(own).toMatchObject({ code: 0, stderr: '' });
    expect(own.stdout).toMatch(new RegExp(`^bonded 100 USDC for ${providerA} \\(tx 0x[0-9a-f]{64}\\)\\n${providerA}: bonded 100 USDC\\n$`));

    const paid = await runFlotilla(['provider', 'bond', '--amount', '25.5', '--for', providerA, '--key-file', keyFile(FUNDER)], env);
    expect(paid).toMatchObject({ code: 0, stderr: '' });
    expect(paid.stdout).toContain(`bonded 25.5 USDC for ${providerA} paid by ${funder}`);
    expect(paid.stdout).toContain(`${providerA}: bonded 125.5 USDC`);

    expect(await bondOf(providerA)).toEqual([usd('125.5'), 0n, 0n]);
    expect(await Promise.all([s.token.balanceOf(providerA), s.token.balanceOf(funder)])).toEqual([usd('900'), usd('974.5')]);

    // Without --amount it only reads, and needs no key with --for.
    const shown = await runFlotilla(['provider', 'bond', '--for', providerA], env);
    expect(shown).toMatchObject({ code: 0, stdout: `${providerA}: bonded 125.5 USDC\n` });
  });

  it('provider unbond starts the delay; bond-withdraw refuses before it (exit 1, naming the time) and pays after it', async () => {
    const key = keyFile(Role.providerA);
    const unbond = await runFlotilla(['provider', 'unbond', '--amount', '40', '--key-file', key], env);
    expect(unbond).toMatchObject({ code: 0, stderr: '' });
    const [bonded, unbonding, unbondableAt] = await bondOf(providerA);
    expect([bonded, unbonding]).toEqual([usd('85.5'), usd('40')]);
    const when = new Date(Number(unbondableAt) * 1000).toISOString();
    expect(unbond.stdout).toContain(`${providerA}: bonded 85.5 USDC, unbonding 40 USDC (withdrawable from ${when})`);

    const early = await runFlotilla(['provider', 'bond-withdraw', '--key-file', key], env);
    expect(early).toMatchObject({ code: 1, stdout: '', stderr: `error: 40 USDC is unbonding, withdrawable from ${when} (chain time)\n` });
    expect(await s.token.balanceOf(providerA)).toBe(usd('900'));

    await increaseTime(chain, (unbondableAt ?? 0n) - (await latestTimestamp(chain)));
    const withdrawn = await runFlotilla(['provider', 'bond-withdraw', '--key-file', key], env);
    expect(withdrawn).toMatchObject({ code: 0, stderr: '' });
    expect(withdrawn.stdout).toMatch(new RegExp(`^withdrew 40 USDC of bond to ${providerA} \\(tx 0x[0-9a-f]{64}\\)\\n${providerA}: bonded 85.5 USDC\\n$`));
    expect(await s.token.balanceOf(providerA)).toBe(usd('940'));

    const again = await runFlotilla(['provider', 'bond-withdraw', '--key-file', key], env);
    expect(again).toMatchObject({ code: 0, stdout: `${providerA} has no USDC bond unbonding (run flotilla provider unbond first)\n` });
  });

  it('refuses what the contract would: unbonding more than bonded, a zero amount, a bad --for', async () => {
    const key = keyFile(Role.providerA);
    const tooMuch = await runFlotilla(['provider', 'unbond', '--amount', '1000', '--key-file', key], env);
    expect(tooMuch.code).toBe(1);
    expect(tooMuch.stderr).toMatch(/^error: the escrow reverted: InsufficientBond\(/);
    expect(await runFlotilla(['provider', 'bond', '--amount', '0', '--key-file', key], env)).toMatchObject({
      code: 1,
      stderr: 'error: the bond amount must be more than 0\n',
    });
    expect(await runFlotilla(['provider', 'bond', '--amount', '1', '--for', 'bob', '--key-file', key], env)).toMatchObject({
      code: 1,
      stderr: 'error: --for bob is not a 0x address\n',
    });
    expect(await bondOf(providerA)).toEqual([usd('85.5'), 0n, 0n]);
  });

  it('EscrowClient.slash reports what it took, and a retry — even a concurrent one — is { already: true }', async () => {
    const jobId = jobIdOf('cli-slash');
    await mined(connectAs(s.escrow, signer(chain, Role.payer)).deposit(jobId, tokenAddress, usd('5'), (await latestTimestamp(chain)) + 3600n));
    const settler = new EscrowClient(config, { key: DEV_KEYS[Role.settler], pollingIntervalMs: 50 });
    try {
      expect(await settler.slashedOf(jobId)).toBe(false);
      const first = await settler.slash(jobId, providerA, verifier, usd('10.000001'));
      expect(first).toMatchObject({ already: false, slashed: usd('10.000001'), toVerifier: usd('5'), toPayer: usd('5.000001') });
      expect(await settler.slashedOf(jobId)).toBe(true);
      expect(await settler.bondOf(providerA, tokenAddress)).toEqual({ bonded: usd('75.499999'), unbonding: 0n, unbondableAt: 0n });
      expect(await settler.slash(jobId, providerA, verifier, usd('10.000001'))).toEqual({ already: true });

      // Two tries in flight at once for a fresh job: one slashes, the other finds it done.
      const racy = jobIdOf('cli-slash-race');
      await mined(connectAs(s.escrow, signer(chain, Role.payer)).deposit(racy, tokenAddress, usd('5'), (await latestTimestamp(chain)) + 3600n));
      const results = await Promise.all([settler.slash(racy, providerA, verifier, usd('1')), settler.slash(racy, providerA, verifier, usd('1'))]);
      expect(results.map((r) => r.already).sort()).toEqual([false, true]);
      expect(await settler.bondOf(providerA, tokenAddress)).toMatchObject({ bonded: usd('74.499999') });
      expect(await s.escrow.owed(verifier, tokenAddress)).toBe(usd('5.5'));
    } finally {
      settler.destroy();
    }

    // Without the role the adapter raises the contract's refusal.
    const outsider = new EscrowClient(config, { key: DEV_KEYS[Role.outsider], pollingIntervalMs: 50 });
    try {
      await expect(outsider.slash(jobIdOf('cli-slash'), providerA, verifier, 1n)).rejects.toThrow(/AccessControlUnauthorizedAccount/);
    } finally {
      outsider.destroy();
    }
  });
});
