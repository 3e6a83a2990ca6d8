import { checkFieldReferences, CelUnsupported, parseCel, ruleHolds } from './cel.ts';

describe('CEL subset evaluator', () => {
  it.each<[string, string, unknown, boolean]>([
    ['a missing field makes a selection fail the rule', 'self.a == 1', {}, false],
    ['has() tests presence without failing', '!has(self.a) || self.a == 1', {}, true],
    ['&& is false when either side is false, even if the other errors', 'self.missing == 1 && false', {}, false],
    ['|| is true when either side is true, even if the other errors', 'self.missing == 1 || true', {}, true],
    ['exists_one counts exactly one match', 'self.all(i, self.exists_one(j, j == i))', [1, 2, 2], false],
    ['in finds a list element', '"b" in self', ['a', 'b'], true],
    ['matches searches unless anchored', "self.matches('[1-9]')", '0.5', true],
    ['POSIX classes of RE2 are understood', "self.matches('^[^[:space:]]+$')", 'a b', false],
    ['durations compare by length', "duration(self) >= duration('30s')", '1m', true],
    ['string() of an int feeds the quantity library', "isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))", 4, true],
    ['a negative quantity is less than zero', "quantity(self).isLessThan(quantity('0'))", '-500m', true],
    ['url() gives the scheme', "isURL(self) && url(self).getScheme() in ['http', 'https']", 'https://x.org/a', true],
    ['a map iterates over its keys', "self.all(k, !k.startsWith('flotilla.dev/'))", { 'flotilla.dev/x': '1' }, false],
    ['size() counts characters, not bytes', 'self.size() == 2', 'é€', true],
  ])('%s', (_, rule, self, expected) => {
    expect(ruleHolds(rule, self)).toBe(expected);
  });

  it('oldSelf is bound only for transition rules', () => {
    expect(ruleHolds('self == oldSelf', 'a', 'a')).toBe(true);
    expect(() => ruleHolds('self == oldSelf', 'a')).toThrow(CelUnsupported);
  });

  // sign() is a global function in Kubernetes, not a method, whatever its docs show.
  it.each(['self.a + 1 > 2', 'self.map(x, x)', "self.matches('\\d')", "quantity('1').sign() == 1"])('rejects %s as outside the subset', (rule) => {
    expect(() => ruleHolds(rule, { a: 1 })).toThrow(CelUnsupported);
  });

  it('finds a field the schema does not declare', () => {
    const schema = { type: 'object', properties: { allowed: { type: 'array', items: { type: 'string' } } } } as const;
    expect(checkFieldReferences('self.allowed.all(p, p != "")', schema)).toEqual([]);
    expect(checkFieldReferences('has(self.allowd)', schema)).toEqual(["undefined field 'allowd'"]);
    expect(() => parseCel('self.a ==')).toThrow(CelUnsupported);
  });
});
