// The hub-wide limits of what a job may ask for (core/validation/runnable.ts), from the operator's
// environment (the hub chart's values set them). The webhook denies beyond them and the AIJob
// controller fails a job beyond them, so both read the same object.
//
//   FLOTILLA_DENIED_POD_ANNOTATIONS      comma-separated keys, or prefixes ending in '/'; replaces
//                                        the default list (AppArmor, seccomp, Multus, autoscaler
//                                        do-not-disrupt); "none" turns the deny-list off
//   FLOTILLA_MAX_POD_ANNOTATION_BYTES    total bytes of spec.podAnnotations (default 65536)
//   FLOTILLA_MAX_CPU, FLOTILLA_MAX_MEMORY  per-replica maxima (default 1024 and 16Ti)
import type { TokenConfig } from '../payments/chain-config.ts';
import { checkCid } from '../artifacts/cid.ts';
import { parseQuantity } from '../core/quantity.ts';
import { DEFAULT_RUNNABLE_LIMITS } from '../core/validation/runnable.ts';
import type { RunnableLimits } from '../core/validation/runnable.ts';
import { positiveInt } from '../runtime/env.ts';

export function admissionLimits(env: NodeJS.ProcessEnv, tokens?: readonly TokenConfig[], priceDecimals?: number): RunnableLimits {
  const raw = env.FLOTILLA_DENIED_POD_ANNOTATIONS;
  const denied =
    raw === undefined || raw.trim() === ''
      ? DEFAULT_RUNNABLE_LIMITS.deniedPodAnnotations
      : raw.trim() === 'none'
        ? []
        : raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
  const bytes = positiveInt(env, 'FLOTILLA_MAX_POD_ANNOTATION_BYTES', DEFAULT_RUNNABLE_LIMITS.maxPodAnnotationBytes);
  const quantity = (key: string, fallback: string) => {
    const value = env[key] || fallback;
    parseQuantity(value); // throws, naming the text, on a bad value
    return value;
  };
  return {
    deniedPodAnnotations: denied,
    maxPodAnnotationBytes: bytes,
    maxCpu: quantity('FLOTILLA_MAX_CPU', DEFAULT_RUNNABLE_LIMITS.maxCpu),
    maxMemory: quantity('FLOTILLA_MAX_MEMORY', DEFAULT_RUNNABLE_LIMITS.maxMemory),
    ...(tokens ? { tokens } : {}),
    ...(priceDecimals !== undefined ? { priceDecimals } : {}),
    checkCid: (cid) => {
      const checked = checkCid(cid);
      return checked.ok ? undefined : checked.message;
    },
  };
}
