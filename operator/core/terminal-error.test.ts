import { durationSeconds } from './duration.ts';
import { toBaseUnits } from './money.ts';
import { specField, TerminalSpecError } from './terminal-error.ts';

describe('specField', () => {
  it('returns what the parser returns', () => {
    expect(specField('spec.checkpoint.every', '1h30m', durationSeconds)).toBe(5400);
  });

  it('turns a parser error into a TerminalSpecError that names the field and the value', () => {
    const err = (() => {
      try {
        specField('spec.payment.maxAmount', '1.0000001', (v) => toBaseUnits(v, 6));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(TerminalSpecError);
    expect(err).toMatchObject({
      name: 'TerminalSpecError',
      field: 'spec.payment.maxAmount',
      message: 'spec.payment.maxAmount "1.0000001": "1.0000001" has more than 6 decimal places',
    });
  });

  it('keeps the field of a TerminalSpecError thrown inside', () => {
    expect(() =>
      specField('spec', 'x', () => {
        throw new TerminalSpecError('spec.inner', 'spec.inner is bad');
      }),
    ).toThrow(expect.objectContaining({ field: 'spec.inner' }));
  });
});
