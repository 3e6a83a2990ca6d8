// A small evaluator for the subset of Kubernetes CEL our CRD rules use, so unit tests can run the
// real rule text against example objects without an apiserver, and so a rule naming a field the
// schema lacks fails a unit test instead of the CRD install. It is not CEL: anything outside the
// subset throws `CelUnsupported`, and the apiserver remains the authority (integration tests apply
// the CRDs to a real kube-apiserver).
//
// Subset: literals (int, double, string, bool, list), `self`/`oldSelf`, field selection, indexing,
// ! && || ?: == != < <= > >= in, string +, has(), size(), the macros all/exists/exists_one, the string
// functions matches/startsWith/endsWith/contains, string(), duration(), and Kubernetes' isURL/url()
// and isQuantity/quantity().isGreaterThan/isLessThan libraries (enough of them for our rules).
//
// Lives in test/support/, the one home of test-support code: unit tests beside the operator's code,
// the integration suites under test/ and bench/ all import it from here (test/support/local-validation/), and shipped code
// (operator/, cli/, pulumi/) may not (eslint.config.js; operator/boundaries.test.ts).
import type { SchemaProps } from '../../../operator/api/schema-types.ts';

export class CelUnsupported extends Error {}
/** A runtime error of the expression (no such key, bad argument); CEL's `&&`/`||` may absorb it. */
export class CelEvalError extends Error {}

type Node =
  | { readonly k: 'lit'; readonly v: unknown }
  | { readonly k: 'ident'; readonly name: string }
  | { readonly k: 'select'; readonly obj: Node; readonly field: string }
  | { readonly k: 'index'; readonly obj: Node; readonly index: Node }
  | { readonly k: 'call'; readonly fn: string; readonly target: Node | undefined; readonly args: readonly Node[] }
  | { readonly k: 'list'; readonly items: readonly Node[] }
  | { readonly k: 'unary'; readonly op: '!' | '-'; readonly arg: Node }
  | { readonly k: 'binary'; readonly op: string; readonly l: Node; readonly r: Node }
  | { readonly k: 'cond'; readonly c: Node; readonly t: Node; readonly f: Node };

type Token = { readonly t: 'num' | 'str' | 'id' | 'op'; readonly v: string };

const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '(', ')', '[', ']', ',', '.', '?', ':', '-', '+'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src.charAt(i);
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))?.[0] ?? ch;
      out.push({ t: 'id', v: m });
      i += m.length;
      continue;
    }
    if (/[0-9]/.test(ch)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))?.[0] ?? ch;
      out.push({ t: 'num', v: m });
      i += m.length;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src.charAt(j) !== ch) {
        if (src.charAt(j) === '\\') {
          const e = src.charAt(j + 1);
          const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };
          const rep = escapes[e];
          if (rep === undefined) throw new CelUnsupported(`escape \\${e}`);
          s += rep;
          j += 2;
        } else {
          s += src.charAt(j);
          j++;
        }
      }
      if (j >= src.length) throw new CelUnsupported('unterminated string');
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op === undefined) throw new CelUnsupported(`character ${ch}`);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  return out;
}

/** Parses one expression; throws CelUnsupported for syntax outside the subset. */
export function parseCel(src: string): Node {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Token | undefined => toks[p];
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()?.v === v;
  const expect = (v: string): void => {
    if (!isOp(v)) throw new CelUnsupported(`expected ${v} at token ${p} of ${src}`);
    p++;
  };
  const args = (close: string): Node[] => {
    const out: Node[] = [];
    if (isOp(close)) {
      p++;
      return out;
    }
    for (;;) {
      out.push(expr());
      if (isOp(',')) {
        p++;
        continue;
      }
      expect(close);
      return out;
    }
  };
  const primary = (): Node => {
    const tok = toks[p++];
    if (tok === undefined) throw new CelUnsupported(`unexpected end of ${src}`);
    if (tok.t === 'num') return { k: 'lit', v: Number(tok.v) };
    if (tok.t === 'str') return { k: 'lit', v: tok.v };
    if (tok.t === 'id') {
      if (tok.v === 'true' || tok.v === 'false') return { k: 'lit', v: tok.v === 'true' };
      if (isOp('(')) {
        p++;
        return { k: 'call', fn: tok.v, target: undefined, args: args(')') };
      }
      return { k: 'ident', name: tok.v };
    }
    if (tok.v === '(') {
      const e = expr();
      expect(')');
      return e;
    }
    if (tok.v === '[') return { k: 'list', items: args(']') };
    throw new CelUnsupported(`unexpected ${tok.v} in ${src}`);
  };
  const member = (): Node => {
    let n = primary();
    for (;;) {
      if (isOp('.')) {
        p++;
        const id = toks[p++];
        if (id?.t !== 'id') throw new CelUnsupported(`expected a name after . in ${src}`);
        if (isOp('(')) {
          p++;
          n = { k: 'call', fn: id.v, target: n, args: args(')') };
        } else n = { k: 'select', obj: n, field: id.v };
      } else if (isOp('[')) {
        p++;
        const index = expr();
        expect(']');
        n = { k: 'index', obj: n, index };
      } else return n;
    }
  };
  const unary = (): Node => {
    if (isOp('!')) {
      p++;
      return { k: 'unary', op: '!', arg: unary() };
    }
    if (isOp('-')) {
      p++;
      return { k: 'unary', op: '-', arg: unary() };
    }
    return member();
  };
  // `+`: string concatenation only (the subset has no arithmetic).
  const additive = (): Node => {
    let l = unary();
    while (isOp('+')) {
      p++;
      l = { k: 'binary', op: '+', l, r: unary() };
    }
    return l;
  };
  const relation = (): Node => {
    let l = additive();
    for (;;) {
      const tok = peek();
      const rel = tok !== undefined && ((tok.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(tok.v)) || (tok.t === 'id' && tok.v === 'in'));
      if (!rel) return l;
      p++;
      l = { k: 'binary', op: tok.v, l, r: additive() };
    }
  };
  const chain = (op: string, next: () => Node) => (): Node => {
    let l = next();
    while (isOp(op)) {
      p++;
      l = { k: 'binary', op, l, r: next() };
    }
    return l;
  };
  const and = chain('&&', relation);
  const or = chain('||', and);
  function expr(): Node {
    const c = or();
    if (!isOp('?')) return c;
    p++;
    const t = expr();
    expect(':');
    const f = expr();
    return { k: 'cond', c, t, f };
  }
  const n = expr();
  if (p !== toks.length) throw new CelUnsupported(`trailing tokens in ${src}`);
  return n;
}

// ---- values -------------------------------------------------------------------------------

// Plain fields, not parameter properties: sources run under Node's type stripping.
class Duration {
  readonly nanos: number;
  constructor(nanos: number) {
    this.nanos = nanos;
  }
}
class Quantity {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}
class Url {
  readonly scheme: string;
  constructor(scheme: string) {
    this.scheme = scheme;
  }
}

/** RE2 POSIX classes that JavaScript lacks, translated for `matches`. */
function re2ToJs(re: string): RegExp {
  return new RegExp(re.replaceAll('[:space:]', '\\s').replaceAll('[:alpha:]', 'A-Za-z').replaceAll('[:digit:]', '0-9'));
}

const QUANTITY = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g;
const DURATION_UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

function parseDuration(s: string): Duration {
  if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) throw new CelEvalError(`invalid duration ${s}`);
  let nanos = 0;
  for (const m of s.matchAll(DURATION_PART)) nanos += Number(m[1]) * (DURATION_UNIT_NS[m[2] ?? ''] ?? 0);
  return new Duration(nanos);
}

const QUANTITY_SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A quantity's value as a float with its suffix applied (enough to compare, which is all rules do). */
function parseQuantity(s: string): Quantity {
  const m = QUANTITY.exec(s);
  if (!m) throw new CelEvalError(`invalid quantity ${s}`);
  const suffix = m[3] ?? '';
  const scale = /^[eE][+-]?[0-9]+$/.test(suffix) ? 10 ** Number(suffix.slice(1)) : (QUANTITY_SUFFIX[suffix] ?? 1);
  return new Quantity(Number.parseFloat(s) * scale);
}

function isAbsoluteUrl(s: string): boolean {
  if (s.startsWith('/')) return true;
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Duration) && !(v instanceof Quantity) && !(v instanceof Url);

function deepEqual(a: unknown, b: unknown): boolean {
  if (a instanceof Duration && b instanceof Duration) return a.nanos === b.nanos;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return a === b;
}

function compare(a: unknown, b: unknown): number {
  if (a instanceof Duration && b instanceof Duration) return a.nanos - b.nanos;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new CelEvalError('no matching overload for comparison');
}

function size(v: unknown): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (isObject(v)) return Object.keys(v).length;
  throw new CelEvalError('no matching overload for size');
}

const str = (v: unknown): string => {
  if (typeof v !== 'string') throw new CelEvalError('expected a string');
  return v;
};

type Env = ReadonlyMap<string, unknown>;

function select(obj: unknown, field: string): unknown {
  if (!isObject(obj) || !(field in obj)) throw new CelEvalError(`no such key: ${field}`);
  return obj[field];
}

function evalMacro(fn: string, target: unknown, args: readonly Node[], env: Env): boolean {
  const [v, body] = args;
  if (v?.k !== 'ident' || body === undefined) throw new CelUnsupported(`${fn} needs (var, predicate)`);
  const elems = Array.isArray(target) ? target : isObject(target) ? Object.keys(target) : undefined;
  if (elems === undefined) throw new CelEvalError(`${fn} on a non-collection`);
  const test = (e: unknown): boolean => evalCel(body, new Map([...env, [v.name, e]])) === true;
  if (fn === 'all') return elems.every(test);
  if (fn === 'exists') return elems.some(test);
  return elems.filter(test).length === 1;
}

function evalCall(n: Extract<Node, { k: 'call' }>, env: Env): unknown {
  if (n.fn === 'has') {
    const arg = n.args[0];
    if (arg?.k !== 'select') throw new CelUnsupported('has() needs a field selection');
    const obj = evalCel(arg.obj, env);
    return isObject(obj) && arg.field in obj;
  }
  if (n.target !== undefined && ['all', 'exists', 'exists_one'].includes(n.fn)) {
    return evalMacro(n.fn, evalCel(n.target, env), n.args, env);
  }
  const target = n.target === undefined ? undefined : evalCel(n.target, env);
  const args = n.args.map((a) => evalCel(a, env));
  const [a0] = args;
  switch (n.fn) {
    case 'size':
      return size(n.target === undefined ? a0 : target);
    case 'matches':
      return re2ToJs(str(a0)).test(str(target));
    case 'startsWith':
      return str(target).startsWith(str(a0));
    case 'endsWith':
      return str(target).endsWith(str(a0));
    case 'contains':
      return str(target).includes(str(a0));
    case 'string':
      if (typeof a0 === 'string') return a0;
      if (typeof a0 === 'number' && Number.isInteger(a0)) return String(a0);
      throw new CelEvalError('no matching overload for string()');
    case 'duration':
      return parseDuration(str(a0));
    case 'isQuantity':
      return QUANTITY.test(str(a0));
    case 'quantity':
      return parseQuantity(str(a0));
    case 'isGreaterThan':
    case 'isLessThan':
      if (!(target instanceof Quantity) || !(a0 instanceof Quantity)) throw new CelEvalError(`${n.fn}() on a non-quantity`);
      return n.fn === 'isGreaterThan' ? target.value > a0.value : target.value < a0.value;
    case 'isURL':
      return isAbsoluteUrl(str(a0));
    case 'url':
      if (!isAbsoluteUrl(str(a0))) throw new CelEvalError(`invalid URL ${String(a0)}`);
      return new Url(str(a0).startsWith('/') ? '' : new URL(str(a0)).protocol.replace(/:$/, ''));
    case 'getScheme':
      if (!(target instanceof Url)) throw new CelEvalError('getScheme() on a non-URL');
      return target.scheme;
    default:
      throw new CelUnsupported(`function ${n.fn}`);
  }
}

/** Evaluates with CEL's commutative && and ||: a false (true) side wins over an error on the other. */
function logical(op: '&&' | '||', l: Node, r: Node, env: Env): boolean {
  const decisive = op === '||';
  let err: unknown;
  for (const side of [l, r]) {
    try {
      const v = evalCel(side, env);
      if (typeof v !== 'boolean') throw new CelEvalError(`${op} on a non-bool`);
      if (v === decisive) return decisive;
    } catch (e) {
      if (e instanceof CelUnsupported) throw e;
      err = e;
    }
  }
  if (err !== undefined) throw err;
  return !decisive;
}

export function evalCel(n: Node, env: Env): unknown {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'ident':
      if (!env.has(n.name)) throw new CelUnsupported(`undeclared reference ${n.name}`);
      return env.get(n.name);
    case 'select':
      return select(evalCel(n.obj, env), n.field);
    case 'index': {
      const obj = evalCel(n.obj, env);
      const i = evalCel(n.index, env);
      if (Array.isArray(obj) && typeof i === 'number') {
        if (i < 0 || i >= obj.length) throw new CelEvalError('index out of range');
        return obj[i];
      }
      return select(obj, str(i));
    }
    case 'call':
      return evalCall(n, env);
    case 'list':
      return n.items.map((i) => evalCel(i, env));
    case 'unary': {
      const v = evalCel(n.arg, env);
      if (n.op === '!') {
        if (typeof v !== 'boolean') throw new CelEvalError('! on a non-bool');
        return !v;
      }
      if (typeof v !== 'number') throw new CelEvalError('- on a non-number');
      return -v;
    }
    case 'cond':
      return evalCel(n.c, env) === true ? evalCel(n.t, env) : evalCel(n.f, env);
    case 'binary': {
      if (n.op === '&&' || n.op === '||') return logical(n.op, n.l, n.r, env);
      const l = evalCel(n.l, env);
      const r = evalCel(n.r, env);
      switch (n.op) {
        case '+':
          if (typeof l !== 'string' || typeof r !== 'string') throw new CelUnsupported('+ on non-strings');
          return l + r;
        case '==':
          return deepEqual(l, r);
        case '!=':
          return !deepEqual(l, r);
        case '<':
          return compare(l, r) < 0;
        case '<=':
          return compare(l, r) <= 0;
        case '>':
          return compare(l, r) > 0;
        case '>=':
          return compare(l, r) >= 0;
        case 'in':
          if (Array.isArray(r)) return r.some((x) => deepEqual(x, l));
          if (isObject(r)) return str(l) in r;
          throw new CelEvalError('in on a non-collection');
        default:
          throw new CelUnsupported(`operator ${n.op}`);
      }
    }
  }
}

/** Evaluates a rule; true when it holds. Runtime errors count as a failed rule, as in the apiserver. */
export function ruleHolds(rule: string, self: unknown, oldSelf?: unknown): boolean {
  const env = new Map<string, unknown>([['self', self]]);
  if (oldSelf !== undefined) env.set('oldSelf', oldSelf);
  try {
    return evalCel(parseCel(rule), env) === true;
  } catch (e) {
    if (e instanceof CelEvalError) return false;
    throw e;
  }
}

// ---- static check of field references -----------------------------------------------------

type Static = SchemaProps | 'string' | 'unknown';

/**
 * Lists the problems the apiserver's compiler would report about field references: selecting a
 * field the schema does not declare, or has() on something that is not a field selection.
 * `self` (and `oldSelf`) have the type of `schema`.
 */
export function checkFieldReferences(rule: string, schema: SchemaProps): string[] {
  const problems: string[] = [];
  const typeOf = (n: Node, env: ReadonlyMap<string, Static>): Static => {
    switch (n.k) {
      case 'ident': {
        const t = env.get(n.name);
        if (t === undefined) problems.push(`undeclared reference ${n.name}`);
        return t ?? 'unknown';
      }
      case 'select': {
        const t = typeOf(n.obj, env);
        if (t === 'unknown' || t === 'string') return 'unknown';
        if (t.properties !== undefined) {
          const f = t.properties[n.field];
          if (f === undefined) problems.push(`undefined field '${n.field}'`);
          return f ?? 'unknown';
        }
        if (t.type === 'object' && t.additionalProperties === undefined) return 'unknown';
        if (t.additionalProperties !== undefined) return t.additionalProperties;
        problems.push(`undefined field '${n.field}'`);
        return 'unknown';
      }
      case 'call': {
        if (n.fn === 'has') {
          const arg = n.args[0];
          if (arg?.k !== 'select') problems.push('has() needs a field selection');
          else typeOf(arg, env);
          return 'unknown';
        }
        const target = n.target === undefined ? undefined : typeOf(n.target, env);
        if (['all', 'exists', 'exists_one'].includes(n.fn)) {
          const [v, body] = n.args;
          if (v?.k === 'ident' && body !== undefined && target !== undefined) {
            const elem: Static =
              target === 'unknown' || target === 'string' ? 'unknown' : (target.items ?? (target.additionalProperties !== undefined ? 'string' : 'unknown'));
            typeOf(body, new Map([...env, [v.name, elem]]));
          }
          return 'unknown';
        }
        for (const a of n.args) typeOf(a, env);
        if (n.fn === 'matches') {
          const re = n.args[0];
          if (re?.k === 'lit' && typeof re.v === 'string') {
            try {
              re2ToJs(re.v);
            } catch {
              problems.push(`invalid regex ${re.v}`);
            }
          }
        }
        return 'unknown';
      }
      case 'index':
        typeOf(n.obj, env);
        typeOf(n.index, env);
        return 'unknown';
      case 'list':
        n.items.forEach((i) => typeOf(i, env));
        return 'unknown';
      case 'unary':
        typeOf(n.arg, env);
        return 'unknown';
      case 'binary':
        typeOf(n.l, env);
        typeOf(n.r, env);
        return 'unknown';
      case 'cond':
        typeOf(n.c, env);
        typeOf(n.t, env);
        typeOf(n.f, env);
        return 'unknown';
      case 'lit':
        return 'unknown';
    }
  };
  typeOf(
    parseCel(rule),
    new Map<string, Static>([
      ['self', schema],
      ['oldSelf', schema],
    ]),
  );
  return problems;
}
