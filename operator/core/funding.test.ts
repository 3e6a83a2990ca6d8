import { declaredPayers, fundingPolicyVerdict, requiredReclaimDeadline, unpaidJobVerdict } from './funding.ts';
import type { FundingPolicy } from './funding.ts';
import type { EscrowDeposit } from './metering.ts';

const ID = '0x' + 'ab'.repeat(32);
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAYER = '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65';
const STRANGER = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc';
const NOW = Date.parse('2026-12-04T12:00:00Z');
const unix = (ms: number) => BigInt(Math.floor(ms / 1000));
const DAY = 86_400;

const policy = (over: Partial<FundingPolicy> = {}): FundingPolicy => ({
  tokenAddress: TOKEN,
  tokenName: 'USDC',
  decimals: 6,
  required: 5_000_000n,
  payers: [PAYER.toLowerCase()],
  namespace: 'research',
  requiredDeadline: unix(NOW) + BigInt(2 * DAY),
  ...over,
});
const deposit = (over: Partial<EscrowDeposit> = {}): EscrowDeposit => ({
  status: 'Open',
  payer: PAYER,
  token: TOKEN,
  deposit: 5_000_000n,
  deadline: unix(NOW) + BigInt(7 * DAY),
  ...over,
});

describe('unpaidJobVerdict', () => {
  it('refuses an unpaid job naming spec.payment and the annotation that would allow it', () => {
    const v = unpaidJobVerdict('research', {});
    expect(v).toMatchObject({ status: 'False', reason: 'PaymentRequired' });
    expect(v.message).toContain('spec.payment is required');
    expect(v.message).toContain('flotilla.dev/allow-unpaid-jobs: "true"');
  });
  it.each(['True', 'yes', '1', ''])('takes only the exact value "true", not %p', (value) => {
    expect(unpaidJobVerdict('research', { 'flotilla.dev/allow-unpaid-jobs': value }).status).toBe('False');
  });
  it('allows unpaid jobs where the Namespace says so', () => {
    expect(unpaidJobVerdict('lab', { 'flotilla.dev/allow-unpaid-jobs': 'true' })).toMatchObject({ status: 'True', reason: 'UnpaidAllowed' });
  });
});

describe('declaredPayers', () => {
  it('reads addresses separated by commas or whitespace, lower-cased, once each, and reports the rest', () => {
    expect(declaredPayers({ 'flotilla.dev/payers': ` ${PAYER},${STRANGER}\n${PAYER.toLowerCase()} bob 0x12 ` })).toEqual({
      payers: [PAYER.toLowerCase(), STRANGER.toLowerCase()],
      invalid: ['bob', '0x12'],
    });
  });
  it('is empty without the annotation', () => expect(declaredPayers({})).toEqual({ payers: [], invalid: [] }));
});

describe('requiredReclaimDeadline', () => {
  it('is spec.deadline plus the settlement window', () => {
    const jobDeadline = NOW + 3_600_000;
    expect(requiredReclaimDeadline({ jobDeadline, now: NOW, defaultMaxRuntimeSeconds: 10 * DAY, settlementWindowSeconds: DAY })).toBe(
      unix(jobDeadline) + BigInt(DAY),
    );
  });
  it('is now plus the default max runtime plus the window without spec.deadline', () => {
    expect(requiredReclaimDeadline({ now: NOW, defaultMaxRuntimeSeconds: 3 * DAY, settlementWindowSeconds: DAY })).toBe(unix(NOW) + BigInt(4 * DAY));
  });
  it('adds the verification window for a job that verifies: the payer cannot reclaim while its run is checked', () => {
    const jobDeadline = NOW + 3_600_000;
    expect(
      requiredReclaimDeadline({ jobDeadline, now: NOW, defaultMaxRuntimeSeconds: 10 * DAY, settlementWindowSeconds: DAY, verificationWindowSeconds: 3600 }),
    ).toBe(unix(jobDeadline) + BigInt(DAY) + 3600n);
  });
  it('rounds a sub-second deadline up', () => {
    expect(requiredReclaimDeadline({ jobDeadline: NOW + 1, now: NOW, defaultMaxRuntimeSeconds: 0, settlementWindowSeconds: 0 })).toBe(unix(NOW) + 1n);
  });
});

describe('fundingPolicyVerdict', () => {
  it.each<[string, Partial<EscrowDeposit>, Partial<FundingPolicy>, string, RegExp]>([
    ['funded: declared payer, long enough, enough', {}, {}, 'EscrowDeposited', /5 USDC deposited by 0x15d3/],
    ['a payer declared in another case still counts', { payer: PAYER.toUpperCase().replace('0X', '0x') }, {}, 'EscrowDeposited', /deposited/],
    [
      'nobody declared: nothing funds, whatever was deposited',
      {},
      { payers: [] },
      'NoPayerDeclared',
      /namespace research declares no payer: .*flotilla\.dev\/payers/,
    ],
    [
      'nobody declared and nothing deposited',
      { status: 'None', payer: '0x' + '0'.repeat(40), deposit: 0n, deadline: 0n },
      { payers: [] },
      'NoPayerDeclared',
      /declares no payer/,
    ],
    [
      'a third party deposited under the id',
      { payer: STRANGER },
      {},
      'UndeclaredPayer',
      new RegExp(`made by ${STRANGER}, which namespace research does not declare .*funds nothing`),
    ],
    ['a third party deposited more than enough', { payer: STRANGER, deposit: 50_000_000n }, {}, 'UndeclaredPayer', /funds nothing/],
    [
      'reclaimable one second too early',
      { deadline: unix(NOW) + BigInt(2 * DAY) - 1n },
      {},
      'DeadlineTooEarly',
      /may be reclaimed after 2026-12-06T11:59:59.000Z; it must stay until at least 2026-12-06T12:00:00.000Z/,
    ],
    ['a short deadline beats a large amount', { deadline: unix(NOW) + 60n, deposit: 50_000_000n }, {}, 'DeadlineTooEarly', /top it up with a later deadline/],
    ['exactly the required deadline funds', { deadline: unix(NOW) + BigInt(2 * DAY) }, {}, 'EscrowDeposited', /deposited/],
    ['nothing deposited yet', { status: 'None', payer: '0x' + '0'.repeat(40), deposit: 0n, deadline: 0n }, {}, 'AwaitingDeposit', /deposit 5 USDC/],
    ['declared payer, too little', { deposit: 1_000_000n }, {}, 'InsufficientDeposit', /4 USDC missing/],
    ['closed escrow', { status: 'Reclaimed' }, {}, 'DepositClosed', /already Reclaimed/],
  ])('%s', (_name, d, p, reason, message) => {
    const v = fundingPolicyVerdict(ID, deposit(d), policy(p));
    expect(v.reason).toBe(reason);
    expect(v.status).toBe(reason === 'EscrowDeposited' ? 'True' : 'False');
    expect(v.message).toMatch(message);
  });
});
