// Whether an AIJob's spec can run at all: the checks that make "the apiserver accepted it" mean
// "it runs, or it ends with a condition naming the field" — never a pod the provider refuses on
// every retry, never a reconcile that throws forever. The CRD says what a schema can (field-schemas.ts);
// this says the rest, and says it again for what the CRD also says, because a webhook can be down
// and an object can predate a schema change. Called by the validating webhook (deny) and by the
// AIJob controller before it acts (terminal Failed, reason InvalidSpec). Pure: hub configuration
// and the CID parser come in as arguments.
//
//   field                         refused when
//   spec.image                    not a reference the distribution grammar parses
//   spec.env[].name               LD_* / DYLD_* (loader injection) or FLOTILLA_* (the operator's own)
//   spec.inputs/output/checkpoint a path not absolute and normalized, "/", under /proc /sys /dev /etc,
//                                 or two of them overlapping
//   spec.inputs[].cid             the operator's CID parser refuses it
//   spec.payment amounts          more decimals than the token has, or beyond the escrow's uint96
//   spec.deadline                 not a real calendar instant (2026-02-31)
//   spec.checkpoint.every         not in the forms core/duration.ts parses
//   spec.resources cpu/memory     not a quantity, or above the hub's maxima
//   spec.podAnnotations           a key that is not a qualified name, a denied key, too many bytes
//   (anything)                    jobDemand() throws on it (the placement input itself)
import { IMAGE_REFERENCE_PATTERN, QUALIFIED_NAME_PATTERN } from '../../api/field-schemas.ts';
import type { AIJobSpec } from '../../api/types.ts';
import { durationSeconds } from '../duration.ts';
import { jobDemand } from '../lifecycle/demand.ts';
import { AmountError, toBaseUnits } from '../money.ts';
import { compareQuantities, parseQuantity } from '../quantity.ts';
import { TerminalSpecError } from '../terminal-error.ts';

export interface SpecViolation {
  /** The field, as the apiserver names paths: spec.inputs[0].mountPath. */
  readonly field: string;
  /** A sentence that starts with the field. */
  readonly message: string;
}

export interface TokenLimits {
  readonly symbol: string;
  readonly address: string;
  readonly decimals: number;
}

export interface RunnableLimits {
  /** Pod annotation keys refused: an exact key, or a prefix when the entry ends with '/'. */
  readonly deniedPodAnnotations: readonly string[];
  /** Total bytes of spec.podAnnotations keys and values. */
  readonly maxPodAnnotationBytes: number;
  /** Quantities; a request above them is refused. */
  readonly maxCpu: string;
  readonly maxMemory: string;
  /** Tokens the hub settles in (decimals bound the amounts); absent: payments off, 18 decimals assumed. */
  readonly tokens?: readonly TokenLimits[];
  /** Decimals the operator meters amounts in (AIJobControllerOptions.priceDecimals; default 6). */
  readonly priceDecimals?: number;
  /** The operator's CID parser (operator/artifacts/cid.ts): undefined when valid, else why not. */
  readonly checkCid?: (cid: string) => string | undefined;
}

/** Keys that change a pod's security or its disruption contract on the provider's cluster. */
export const DEFAULT_DENIED_POD_ANNOTATIONS = [
  'container.apparmor.security.beta.kubernetes.io/',
  'seccomp.security.alpha.kubernetes.io/',
  'container.seccomp.security.alpha.kubernetes.io/',
  'k8s.v1.cni.cncf.io/networks',
  'v1.multus-cni.io/default-network',
  'cluster-autoscaler.kubernetes.io/safe-to-evict',
  'karpenter.sh/do-not-disrupt',
  'karpenter.sh/do-not-evict',
] as const;

export const DEFAULT_RUNNABLE_LIMITS: RunnableLimits = {
  deniedPodAnnotations: DEFAULT_DENIED_POD_ANNOTATIONS,
  maxPodAnnotationBytes: 64 * 1024,
  maxCpu: '1024',
  maxMemory: '16Ti',
};

/** The escrow holds a job's deposit in a uint96 (contracts/FlotillaEscrow.sol). */
export const MAX_ESCROW_AMOUNT = (1n << 96n) - 1n;

/** Paths a job must not mount over: the kernel's and the runtime's views, and the image's config. */
export const RESERVED_PATH_ROOTS = ['/proc', '/sys', '/dev', '/etc'] as const;

/** Environment names the dynamic loader acts on (LD_PRELOAD, LD_AUDIT, DYLD_INSERT_LIBRARIES, …) or the operator sets. */
const DENIED_ENV = /^(LD_|DYLD_|FLOTILLA_)/;

const IMAGE_REFERENCE = new RegExp(IMAGE_REFERENCE_PATTERN);
/** A reference pinned to content: a sha256 digest (what "require digests" asks for). */
export const DIGEST_PINNED = /@sha256:[0-9a-f]{64}$/;
const QUALIFIED_NAME = new RegExp(QUALIFIED_NAME_PATTERN);

export function checkImage(image: string): string | undefined {
  if (!IMAGE_REFERENCE.test(image)) return `spec.image "${image}" is not an image reference (registry/name[:tag][@algorithm:digest], lower-case path)`;
  const name = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  if (name.length > 255) return 'spec.image: the repository name is longer than 255 characters';
  if (image.includes('@sha256:') && !DIGEST_PINNED.test(image)) return 'spec.image: a sha256 digest is 64 lower-case hex digits';
  return undefined;
}

export function checkAnnotationKey(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  if (!QUALIFIED_NAME.test(key) || prefix.length > 253) {
    return `spec.podAnnotations[${key}]: the key must be a qualified name ([DNS subdomain/]name, the name at most 63 letters, digits, '-', '_' or '.')`;
  }
  return undefined;
}

export function deniedAnnotation(key: string, denied: readonly string[]): string | undefined {
  return denied.find((d) => (d.endsWith('/') ? key.startsWith(d) : key === d));
}

/** Why `path` is not a place a job may mount, or undefined. */
export function checkMountPath(field: string, path: string): string | undefined {
  if (!path.startsWith('/')) return `${field} "${path}" must be an absolute path`;
  if (path === '/') return `${field} must not be "/"`;
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..') || path.includes(':')) {
    return `${field} "${path}" must be normalized: no empty, "." or ".." segments, no trailing "/", no ':'`;
  }
  const reserved = RESERVED_PATH_ROOTS.find((root) => path === root || path.startsWith(`${root}/`));
  if (reserved) return `${field} "${path}" is under ${reserved}, which a job may not mount over`;
  return undefined;
}

const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}/`);

/** Real calendar instants only: Date.parse would read 2026-02-31 as 3 March. */
export function checkTimestamp(field: string, text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/.exec(text);
  const bad = `${field} "${text}" is not a real RFC 3339 instant, e.g. "2026-12-31T00:00:00Z"`;
  if (!m) return bad;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (days === undefined || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return bad;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return bad;
  return undefined;
}

function checkAmount(field: string, amount: string, decimals: number, symbol: string): string | undefined {
  try {
    const units = toBaseUnits(amount, decimals);
    if (units > MAX_ESCROW_AMOUNT) return `${field} ${amount} is more than the escrow can hold (2^96-1 base units of ${symbol})`;
    return undefined;
  } catch (err) {
    if (err instanceof AmountError) return `${field} "${amount}" must be a decimal amount with at most ${decimals} decimals for ${symbol} on this hub`;
    throw err;
  }
}

const utf8 = new TextEncoder();
const sameToken = (a: string, b: string) => (a.startsWith('0x') || b.startsWith('0x') ? a.toLowerCase() === b.toLowerCase() : a === b);

/** Every reason the spec cannot run, first by field; empty when it can. */
export function validateRunnable(spec: AIJobSpec, limits: RunnableLimits = DEFAULT_RUNNABLE_LIMITS): SpecViolation[] {
  const out: SpecViolation[] = [];
  const add = (field: string, message: string | undefined) => {
    if (message !== undefined) out.push({ field, message });
  };

  if (typeof spec.image !== 'string') add('spec.image', 'spec.image is required');
  else add('spec.image', checkImage(spec.image));

  (spec.env ?? []).forEach((e, i) => {
    if (DENIED_ENV.test(e.name))
      add(`spec.env[${i}].name`, `spec.env[${i}].name ${e.name}: LD_*, DYLD_* (the dynamic loader's) and FLOTILLA_* (the operator's) variables may not be set`);
  });

  const paths: Array<[string, string]> = [];
  (spec.inputs ?? []).forEach((input, i) => paths.push([`spec.inputs[${i}].mountPath`, input.mountPath]));
  if (spec.output?.path !== undefined) paths.push(['spec.output.path', spec.output.path]);
  if (spec.checkpoint?.path !== undefined) paths.push(['spec.checkpoint.path', spec.checkpoint.path]);
  const valid: Array<[string, string]> = [];
  for (const [field, path] of paths) {
    const why = checkMountPath(field, path);
    add(field, why);
    if (!why) valid.push([field, path]);
  }
  for (let a = 0; a < valid.length; a++) {
    for (let b = a + 1; b < valid.length; b++) {
      const [fa, pa] = valid[a] as [string, string];
      const [fb, pb] = valid[b] as [string, string];
      if (within(pa, pb) || within(pb, pa)) add(fb, `${fb} "${pb}" overlaps ${fa} "${pa}": inputs, output and checkpoint need separate directories`);
    }
  }

  if (limits.checkCid) {
    (spec.inputs ?? []).forEach((input, i) => {
      const why = limits.checkCid?.(input.cid);
      if (why) add(`spec.inputs[${i}].cid`, `spec.inputs[${i}].cid: ${why}`);
    });
  }

  const payment = spec.payment;
  if (payment) {
    const token = limits.tokens?.find((t) => sameToken(t.symbol, payment.token) || sameToken(t.address, payment.token));
    // The operator meters in priceDecimals: more decimals than that (or the token's) cannot be settled.
    const decimals = Math.min(token?.decimals ?? 18, limits.priceDecimals ?? 6);
    const symbol = token?.symbol ?? payment.token;
    add('spec.payment.maxAmount', checkAmount('spec.payment.maxAmount', payment.maxAmount, decimals, symbol));
    if (payment.maxPricePerGpuHour !== undefined)
      add('spec.payment.maxPricePerGpuHour', checkAmount('spec.payment.maxPricePerGpuHour', payment.maxPricePerGpuHour, decimals, symbol));
  }

  if (spec.deadline !== undefined) add('spec.deadline', checkTimestamp('spec.deadline', spec.deadline));

  if (spec.checkpoint?.every !== undefined) {
    try {
      durationSeconds(spec.checkpoint.every);
    } catch {
      add('spec.checkpoint.every', `spec.checkpoint.every "${spec.checkpoint.every}" must be whole hours, minutes and seconds, e.g. "90s", "10m" or "1h30m"`);
    }
  }

  for (const [name, max] of [
    ['cpu', limits.maxCpu],
    ['memory', limits.maxMemory],
  ] as const) {
    const value = spec.resources?.[name];
    if (value === undefined) continue;
    const field = `spec.resources.${name}`;
    try {
      parseQuantity(String(value));
      if (compareQuantities(String(value), max) > 0) add(field, `${field} ${value} is above this hub's maximum of ${max} per replica`);
    } catch {
      add(field, `${field} "${value}" is not a quantity`);
    }
  }

  const annotations = spec.podAnnotations ?? {};
  let bytes = 0;
  for (const [key, value] of Object.entries(annotations)) {
    bytes += utf8.encode(key).length + utf8.encode(value).length;
    const bad = checkAnnotationKey(key);
    add(`spec.podAnnotations[${key}]`, bad);
    const denied = bad ? undefined : deniedAnnotation(key, limits.deniedPodAnnotations);
    if (denied)
      add(
        `spec.podAnnotations[${key}]`,
        `spec.podAnnotations[${key}]: ${denied.endsWith('/') ? `keys under ${denied}` : 'this key'} may not be set by a job on this hub (it changes the pod's security or disruption contract)`,
      );
  }
  if (bytes > limits.maxPodAnnotationBytes)
    add('spec.podAnnotations', `spec.podAnnotations hold ${bytes} bytes, more than this hub's ${limits.maxPodAnnotationBytes}`);

  // The placement input itself: whatever else would make every reconcile throw.
  if (out.length === 0) {
    try {
      jobDemand(spec, undefined, limits.priceDecimals);
    } catch (err) {
      if (err instanceof TerminalSpecError) add(err.field, err.message);
      else add('spec', `spec cannot be placed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return out;
}
