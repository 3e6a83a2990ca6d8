import { canonicalJson } from './canonical-json.ts';

describe('canonicalJson (RFC 8785 for receipt values)', () => {
  it('sorts members by name at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
  });

  it('gives one serialisation whatever the insertion order', () => {
    expect(canonicalJson({ x: 1, y: [1, 2], z: { q: 'a', p: 'b' } })).toBe(canonicalJson({ z: { p: 'b', q: 'a' }, y: [1, 2], x: 1 }));
  });

  it('orders names by UTF-16 code units (capitals before lower case, RFC 8785 §3.2.3)', () => {
    expect(canonicalJson({ b: 0, B: 0, a: 0, '€': 0, '\u0080': 0 })).toBe('{"B":0,"a":0,"b":0,"\u0080":0,"€":0}');
  });

  it('writes numbers and strings as ECMAScript does', () => {
    expect(canonicalJson([1e21, 0.1, -0, 1.5e-7, 'é\n"'])).toBe('[1e+21,0.1,0,1.5e-7,"é\\n\\""]');
  });

  it('leaves out undefined members as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it.each([[Number.NaN], [Infinity], [() => 1], [10n]])('refuses %p', (value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });
});
