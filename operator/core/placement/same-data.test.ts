import { sameData } from './same-data.ts';

describe('sameData', () => {
  it.each([
    [1, 1, true],
    [1, 2, false],
    [2_000_000n, 2_000_000n, true],
    [2_000_000n, 2_000_001n, false],
    [1n, 1, false],
    ['a', 'a', true],
    [null, null, true],
    [null, {}, false],
    [[1, [2, 3n]], [1, [2, 3n]], true],
    [[1, 2], [1, 2, 3], false],
    [[1], { 0: 1 }, false],
    [{ a: 1, b: { c: ['x'] } }, { b: { c: ['x'] }, a: 1 }, true],
    [{ a: 1, b: { c: ['x'] } }, { a: 1, b: { c: ['y'] } }, false],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: 1, c: undefined }, { a: 1, b: undefined }, true],
  ])('%j vs %j: %s', (a, b, expected) => {
    expect(sameData(a, b)).toBe(expected);
    expect(sameData(b, a)).toBe(expected);
  });
});
