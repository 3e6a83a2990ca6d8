import { sameJson } from './json.ts';

describe('sameJson', () => {
  it.each([
    ['key order', { a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }],
    ['undefined members', { a: 1, b: undefined }, { a: 1 }],
    ['absent and null at the top', undefined, null],
    ['a Date and its ISO string', { t: new Date('2026-12-04T20:00:00Z') }, { t: '2026-12-04T20:00:00.000Z' }],
  ])('ignores %s', (_what, a, b) => {
    expect(sameJson(a, b)).toBe(true);
  });

  it.each([
    ['a changed value', { a: 1 }, { a: 2 }],
    ['an extra member', { a: 1 }, { a: 1, b: null }],
    ['array order', [1, 2], [2, 1]],
    ['an array and an object', [], {}],
    ['a number and its string', { a: 1 }, { a: '1' }],
    ['nested', { a: { b: [{ c: 1 }] } }, { a: { b: [{ c: 2 }] } }],
  ])('tells %s apart', (_what, a, b) => {
    expect(sameJson(a, b)).toBe(false);
  });
});
