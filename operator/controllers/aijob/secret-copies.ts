// Secrets a job uses at a provider: the keys its spec.env[].valueFrom.secretKeyRef names and the
// Secrets its spec.imagePullSecrets names live in the job's hub namespace, which no provider's
// kubelet can read. Per attempt the operator copies what is referenced into the provider's lent
// namespace and points the pods at the copies; the copies go with the attempt.
//
//   hub namespace (job's)                      provider's lent namespace, attempt N
//   Secret db   {user, password, host}   →     <job>-<uid8>-aN-env     Opaque, {DB_PASSWORD: …}
//     spec.env DB_PASSWORD ← db/password         (one per attempt, keyed by env name: only the
//                                                 referenced keys, never a whole Secret)
//   Secret regcred (dockerconfigjson)    →     <job>-<uid8>-aN-pull0   same type, same data
//
// Keyed by the env var's name: names are unique in spec.env and are valid Secret keys, while
// "<secret>.<key>" could collide. The copies are immutable (kubelets need not watch them) and carry
// the attempt's labels, so the provider sees whose they are; the provider can read them.
//
// A Secret or key missing in the hub namespace, or a pull Secret of the wrong type, throws
// TerminalSpecError naming the field: the job ends Failed, reason InvalidSpec, before anything is
// placed at a provider (controller.ts reads the Secrets before it writes the attempt). Ending is a
// choice: a job that would wait for a Secret that may never come holds nothing useful and says
// nothing more than the condition already does; fix the Secret and submit again.
//
// Pure: secret-source.ts reads the hub's Secrets; the controller creates and deletes the copies;
// the orphan sweep finds a copy through the pods that reference it (copiesOf).
import type { V1EnvVar, V1LocalObjectReference, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { AIJob, AIJobSpec } from '../../api/types.ts';
import { TerminalSpecError } from '../../core/terminal-error.ts';
import { serviceName } from './gang.ts';

export const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG = 'kubernetes.io/dockercfg';
/** The data key each pull-secret type keeps its credentials under. */
const PULL_KEYS: Readonly<Record<string, string>> = { [DOCKER_CONFIG_JSON]: '.dockerconfigjson', [DOCKER_CFG]: '.dockercfg' };

type Identity = { name: string; uid: string };
type SecretJob = Pick<AIJob, 'metadata' | 'spec'>;

const identity = (job: SecretJob): Identity => ({ name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' });

/** The attempt's env copy: one Secret holding every referenced key. */
export const envCopyName = (job: Identity, attempt: number): string => `${serviceName(job, attempt)}-env`;
/** The attempt's copy of spec.imagePullSecrets[index]. */
export const pullCopyName = (job: Identity, attempt: number, index: number): string => `${serviceName(job, attempt)}-pull${index}`;

const secretEnv = (spec: Pick<AIJobSpec, 'env'>) => (spec.env ?? []).flatMap((e, i) => (e.valueFrom ? [{ env: e, i, ref: e.valueFrom.secretKeyRef }] : []));

/** Names of every copy the attempt has (when its job references any Secret). */
export function copyNames(job: SecretJob, attempt: number): string[] {
  const id = identity(job);
  return [
    ...(secretEnv(job.spec).length > 0 ? [envCopyName(id, attempt)] : []),
    ...(job.spec.imagePullSecrets ?? []).map((_, i) => pullCopyName(id, attempt, i)),
  ];
}

/** Each hub Secret the spec names, with the first field that names it (for a message when it is missing). */
export function referencedSecrets(spec: Pick<AIJobSpec, 'env' | 'imagePullSecrets'>): Array<{ name: string; field: string }> {
  const out = new Map<string, string>();
  for (const { i, ref } of secretEnv(spec)) if (!out.has(ref.name)) out.set(ref.name, `spec.env[${i}].valueFrom.secretKeyRef.name`);
  (spec.imagePullSecrets ?? []).forEach((p, i) => {
    if (!out.has(p.name)) out.set(p.name, `spec.imagePullSecrets[${i}].name`);
  });
  return [...out].map(([name, field]) => ({ name, field }));
}

/** What the copies hold: base64 data as the apiserver returns it. */
export interface CopyPayload {
  /** Env name → value; undefined when no env var references a Secret. */
  readonly env?: Readonly<Record<string, string>>;
  readonly pulls: ReadonlyArray<{ readonly type: string; readonly data: Readonly<Record<string, string>> }>;
}

/**
 * The copies' content from the hub Secrets that exist (`sources`, by name, from the job's
 * namespace). Throws TerminalSpecError naming the field for a missing Secret, a missing key or a
 * pull Secret that is not a registry credential.
 */
export function copyPayload(spec: Pick<AIJobSpec, 'env' | 'imagePullSecrets'>, sources: ReadonlyMap<string, V1Secret>, namespace: string): CopyPayload {
  const refs = secretEnv(spec);
  let env: Record<string, string> | undefined;
  for (const { env: e, i, ref } of refs) {
    const field = `spec.env[${i}].valueFrom.secretKeyRef`;
    const source = sources.get(ref.name);
    if (!source) throw new TerminalSpecError(`${field}.name`, `${field}.name: Secret ${ref.name} does not exist in namespace ${namespace}`);
    const value = source.data?.[ref.key];
    if (value === undefined) throw new TerminalSpecError(`${field}.key`, `${field}.key: Secret ${ref.name} in namespace ${namespace} has no key ${ref.key}`);
    (env ??= {})[e.name] = value;
  }
  const pulls = (spec.imagePullSecrets ?? []).map((p, i) => {
    const field = `spec.imagePullSecrets[${i}].name`;
    const source = sources.get(p.name);
    if (!source) throw new TerminalSpecError(field, `${field}: Secret ${p.name} does not exist in namespace ${namespace}`);
    const type = source.type ?? 'Opaque';
    const key = PULL_KEYS[type];
    const value = key !== undefined ? source.data?.[key] : undefined;
    if (key === undefined || value === undefined) {
      throw new TerminalSpecError(
        field,
        `${field}: Secret ${p.name} in namespace ${namespace} is of type ${type}${key ? ` without ${key}` : ''}, not a registry credential (${DOCKER_CONFIG_JSON})`,
      );
    }
    return { type, data: { [key]: value } };
  });
  return { ...(env ? { env } : {}), pulls };
}

/** The attempt's copies in the provider's `namespace`, with the attempt's labels and annotations. */
export function secretCopies(
  job: SecretJob,
  attempt: number,
  namespace: string,
  payload: CopyPayload,
  meta: { labels: Record<string, string>; annotations: Record<string, string> },
): V1Secret[] {
  const id = identity(job);
  const secret = (name: string, type: string, data: Readonly<Record<string, string>>): V1Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { ...meta.labels }, annotations: { ...meta.annotations } },
    type,
    immutable: true,
    data: { ...data },
  });
  return [
    ...(payload.env ? [secret(envCopyName(id, attempt), 'Opaque', payload.env)] : []),
    ...payload.pulls.map((p, i) => secret(pullCopyName(id, attempt, i), p.type, p.data)),
  ];
}

/** spec.env as the provider's pods get it: a Secret reference points at the attempt's copy, keyed by the env name. */
export function providerEnv(job: SecretJob, attempt: number): V1EnvVar[] {
  const copy = envCopyName(identity(job), attempt);
  return (job.spec.env ?? []).map((e) =>
    e.valueFrom
      ? { name: e.name, valueFrom: { secretKeyRef: { name: copy, key: e.name } } }
      : { name: e.name, ...(e.value !== undefined ? { value: e.value } : {}) },
  );
}

/** spec.imagePullSecrets as the provider's pods get it: the attempt's copies; undefined when none. */
export function providerPullSecrets(job: SecretJob, attempt: number): V1LocalObjectReference[] | undefined {
  const pulls = job.spec.imagePullSecrets ?? [];
  return pulls.length > 0 ? pulls.map((_, i) => ({ name: pullCopyName(identity(job), attempt, i) })) : undefined;
}

/**
 * The copies a pod of attempt `attempt` of job `job` references — only names this module would
 * give that attempt, so a pod the provider made with our labels cannot point the sweep at another
 * Secret (the credential's own token, say).
 */
export function copiesOf(pod: Pick<V1Pod, 'spec'>, job: Identity, attempt: number): string[] {
  const env = envCopyName(job, attempt);
  const pull = new RegExp(`^${pullCopyName(job, attempt, 0).slice(0, -1).replace(/[.]/g, '\\.')}[0-9]$`);
  const named = [
    ...(pod.spec?.containers ?? []).flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name)),
    ...(pod.spec?.imagePullSecrets ?? []).map((r) => r.name),
  ];
  return [...new Set(named.filter((n): n is string => n !== undefined && (n === env || pull.test(n))))];
}
