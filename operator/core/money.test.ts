import { AmountError, fromBaseUnits, toBaseUnits } from './money.ts';
import { durationSeconds } from './duration.ts';

describe('toBaseUnits / fromBaseUnits', () => {
  const cases: Array<[string, number, bigint]> = [
    ['2.40', 6, 2_400_000n],
    ['0', 6, 0n],
    ['250', 6, 250_000_000n],
    ['0.000001', 6, 1n],
    ['1.5', 18, 1_500_000_000_000_000_000n],
  ];
  it.each(cases)('%s with %i decimals is %s base units and back', (text, decimals, units) => {
    expect(toBaseUnits(text, decimals)).toBe(units);
    expect(toBaseUnits(fromBaseUnits(units, decimals), decimals)).toBe(units);
  });
  it.each([
    ['1.0000001', 6],
    ['-1', 6],
    ['1e3', 6],
    ['', 6],
  ])('rejects %j instead of rounding', (text, decimals) => {
    expect(() => toBaseUnits(text, decimals)).toThrow(AmountError);
  });
  it('writes the shortest exact decimal', () => expect(fromBaseUnits(2_400_000n, 6)).toBe('2.4'));
});

describe('durationSeconds', () => {
  it.each([
    ['90s', 90],
    ['10m', 600],
    ['1h30m', 5400],
    ['2h', 7200],
  ])('%s is %i seconds', (text, seconds) => expect(durationSeconds(text)).toBe(seconds));
  it.each(['', '10', '1.5h', '10m junk'])('rejects %j', (text) => expect(() => durationSeconds(text)).toThrow(RangeError));
});
