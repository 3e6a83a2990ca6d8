import { boundOptionalText, boundText, TEXT_BOUNDS } from './bounded-text.ts';

describe('boundText', () => {
  it.each([
    ['a short text is kept as it is', 'hello', 10, 'hello'],
    ['a text of exactly the bound is kept', 'abcde', 5, 'abcde'],
    ['a longer text is cut, with an ellipsis, to the bound', 'abcdefgh', 5, 'abcd…'],
    ['a bound of 1 keeps only the ellipsis', 'abc', 1, '…'],
    ['a bound of 0 keeps nothing', 'abc', 0, ''],
    ['a surrogate pair at the cut is dropped whole', `abc${'😀'}def`, 5, 'abc…'],
    ['a surrogate pair before the cut is kept', `ab${'😀'}cdef`, 5, `ab${'😀'}…`],
  ])('%s', (_name, text, max, expected) => {
    expect(boundText(text, max)).toBe(expected);
    expect(boundText(text, max).length).toBeLessThanOrEqual(Math.max(0, max));
  });

  it('turns a non-string (a malformed provider field) into an empty string', () => {
    expect(boundText(42, 10)).toBe('');
    expect(boundText({ a: 1 }, 10)).toBe('');
    expect(boundText(undefined, 10)).toBe('');
  });

  it('cuts a 5,000-character disruption message to the message bound', () => {
    const out = boundText('x'.repeat(5_000), TEXT_BOUNDS.message);
    expect(out).toHaveLength(TEXT_BOUNDS.message);
    expect(out.endsWith('…')).toBe(true);
  });

  it('never returns more than the bound, whatever the input (property over many lengths)', () => {
    for (let n = 0; n < 300; n += 7) {
      const text = '😀a'.repeat(n);
      for (const max of [1, 2, 3, 10, 64]) {
        const out = boundText(text, max);
        expect(out.length).toBeLessThanOrEqual(max);
        // No lone high surrogate before the ellipsis.
        expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(out)).toBe(false);
      }
    }
  });
});

describe('boundOptionalText', () => {
  it('keeps undefined undefined and bounds the rest', () => {
    expect(boundOptionalText(undefined, 5)).toBeUndefined();
    expect(boundOptionalText('abcdefgh', 5)).toBe('abcd…');
  });
});
