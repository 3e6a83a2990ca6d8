// One key per role on the local federation's chain: the receipt signer must not be a key whose owner
// has a stake in what the receipt says (a provider that is paid by it, a payer that is refunded by it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { ANVIL_DEV_ACCOUNTS } from './anvil.ts';
import { DEPLOYER_ACCOUNT, PAYER_ACCOUNTS, PROVIDER_PAYOUT_ACCOUNTS, RECEIPT_SIGNER_ACCOUNT, SETTLER_ACCOUNT, devKey } from './chain-contracts.ts';
import { parseFleet } from './fleet.ts';
import { repoRoot } from './paths.ts';

const address = (account: number) => new Wallet(devKey(account)).address.toLowerCase();
const fleetPayouts = () =>
  parseFleet(readFileSync(join(repoRoot, 'examples/federation/fleet.yaml'), 'utf8')).providers.map((p) => p.payoutAddress.toLowerCase());
const signer = () => address(RECEIPT_SIGNER_ACCOUNT);
/** The accounts the payment suites pay from (test/payments/payments-fixture.ts; read as text: it needs a federation to import). */
function suitePayers(): number[] {
  const fixture = readFileSync(join(repoRoot, 'test/payments/payments-fixture.ts'), 'utf8');
  const table = /export const PAYER_ACCOUNTS = \{([^}]*)\}/.exec(fixture)?.[1] ?? '';
  return [...table.matchAll(/:\s*(\d+)/g)].map((m) => Number(m[1]));
}

describe('the receipt signer of the local federation', () => {
  it('is not the payout address of any provider of the fleet', () => {
    expect(fleetPayouts().length).toBeGreaterThan(0);
    expect(fleetPayouts()).not.toContain(signer());
  });

  it('is not any payer: neither the accounts reserved for payers nor those the payment suites pay from', () => {
    const payers = [...PAYER_ACCOUNTS, ...suitePayers()];
    expect(payers.map(address)).not.toContain(signer());
  });

  it('is not the settler nor the deployer either: every role has its own account', () => {
    const roles = [DEPLOYER_ACCOUNT, ...PROVIDER_PAYOUT_ACCOUNTS, ...PAYER_ACCOUNTS, SETTLER_ACCOUNT, RECEIPT_SIGNER_ACCOUNT];
    expect(new Set(roles).size).toBe(roles.length);
    expect(new Set(roles.map(address)).size).toBe(roles.length);
  });

  it('is one of the dev accounts anvil is started with, so eth_accounts lists it', () => {
    expect(RECEIPT_SIGNER_ACCOUNT).toBeLessThan(ANVIL_DEV_ACCOUNTS);
    // The well-known address of anvil's account #10 (mnemonic "test test … junk").
    expect(signer()).toBe('0xbcd4042de499d14e55001ccbb24a551f3b954096');
  });

  it('the fleet pays exactly the accounts reserved for provider payouts, and the payment suites pay from payer accounts only', () => {
    expect(fleetPayouts().sort()).toEqual(PROVIDER_PAYOUT_ACCOUNTS.map(address).sort());
    expect(suitePayers().length).toBeGreaterThan(0);
    for (const account of suitePayers()) expect(PAYER_ACCOUNTS).toContain(account);
  });
});
