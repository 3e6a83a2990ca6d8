// One container of an exec-mode pod (process-plan.ts) as a process on this machine: argv, env and
// cwd. Pure. There are no mount namespaces, no pod network and no cluster DNS here, so the
// simulation changes what the container sees in three ways, each as small as it can be:
//
//   paths     an argument or env value equal to a volumeMount's mountPath, or starting with
//             mountPath + '/', has that prefix replaced by the volume's host directory (plus the
//             mount's subPath); the longest mountPath wins. The container's terminationMessagePath
//             (default /dev/termination-log) maps the same way to its host termination-log file,
//             and FLOTILLA_TERMINATION_LOG names that file. Paths inside a longer string (a shell
//             script, `--out=/data`) are not touched: pass paths as whole arguments or env values.
//   network   MASTER_ADDR and PET_MASTER_ADDR become 127.0.0.1 and MASTER_PORT / PET_MASTER_PORT a
//             loopback port chosen per attempt (the replicas' Service name does not resolve here,
//             and two attempts must not share torchrun's default port on one machine).
//   program   there is no image: `command` + `args` run as they are (no shell; a container without
//             a command cannot start), `node` as argv[0] is this Node, the cwd is the repository
//             root (so `operator/agent/main.ts` resolves) unless workingDir is inside a mount.
//
// Like the kubelet, $(VAR) in command, args and env values expands to the container's own env
// ($$ is a literal $); the env is the host's basics (PATH, HOME, locale) plus the container's.
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { allContainers } from './process-plan.ts';

/** Host variables a process inherits; the marker lets `federation down` find a stray process. */
export const HOST_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'FLOTILLA_FEDERATION'] as const;

export const LOOPBACK = '127.0.0.1';
const ADDRESS_ENV = new Set(['MASTER_ADDR', 'PET_MASTER_ADDR']);
const PORT_ENV = new Set(['MASTER_PORT', 'PET_MASTER_PORT']);
export const TERMINATION_LOG_ENV = 'FLOTILLA_TERMINATION_LOG';
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

/** A Secret or ConfigMap key the pod's env reads; the adapter reads it from the provider cluster. */
export interface EnvSource {
  readonly kind: 'secret' | 'configMap';
  readonly name: string;
  readonly key: string;
}

export const sourceKey = (s: EnvSource): string => `${s.kind}/${s.name}/${s.key}`;

function sourceOf(e: V1EnvVar): EnvSource | undefined {
  const s = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
  if (!s?.name) return undefined;
  return { kind: e.valueFrom?.secretKeyRef ? 'secret' : 'configMap', name: s.name, key: s.key };
}

/** Every Secret and ConfigMap key any container's env reads, once each. */
export function envSources(pod: V1Pod): EnvSource[] {
  const found = new Map<string, EnvSource>();
  for (const c of allContainers(pod))
    for (const e of c.env ?? []) {
      const s = sourceOf(e);
      if (s) found.set(sourceKey(s), s);
    }
  return [...found.values()];
}

/** Whether any container asks for a rendezvous port (then the attempt gets one). */
export const needsPort = (pod: V1Pod): boolean => allContainers(pod).some((c) => (c.env ?? []).some((e) => PORT_ENV.has(e.name)));

/** Kubernetes' $(VAR) expansion: a defined name is replaced, an undefined one kept, $$ is a literal $. */
export function expandVars(text: string, vars: Readonly<Record<string, string>>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const next = text[i + 1];
    if (ch !== '$' || next === undefined) {
      out += ch;
    } else if (next === '$') {
      out += '$';
      i += 1;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close < 0) {
        out += '$(';
        i += 1;
        continue;
      }
      const name = text.slice(i + 2, close);
      out += Object.hasOwn(vars, name) ? vars[name] : `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

export interface PathMapping {
  readonly from: string;
  readonly to: string;
}

const trimSlash = (p: string): string => p.replace(/\/+$/, '');

/** The container's mounts and termination-message path → host paths, longest container path first. */
export function pathMappings(pod: V1Pod, container: V1Container, volumeDir: (volume: string) => string, terminationLog: string): PathMapping[] {
  const volumes = new Set((pod.spec?.volumes ?? []).map((v) => v.name));
  const mounts = (container.volumeMounts ?? [])
    .filter((m) => volumes.has(m.name) && trimSlash(m.mountPath) !== '')
    .map((m) => ({ from: trimSlash(m.mountPath), to: m.subPath ? `${volumeDir(m.name)}/${trimSlash(m.subPath)}` : volumeDir(m.name) }));
  const termination = { from: container.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH, to: terminationLog };
  return [...mounts, termination].sort((a, b) => b.from.length - a.from.length);
}

/** `value` with its container path replaced by the host path, when it is one of the mapped paths or below one. */
export function mapPath(value: string, mappings: readonly PathMapping[]): string {
  const m = mappings.find((m) => value === m.from || value.startsWith(`${m.from}/`));
  return m ? m.to + value.slice(m.from.length) : value;
}

/** A downward-API field as the kubelet would fill it; pod and host IPs are loopback here. */
export function fieldValue(pod: V1Pod, path: string): string | undefined {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[keyed[2] ?? ''];
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': LOOPBACK,
    'status.hostIP': LOOPBACK,
  };
  return fields[path];
}

export interface ProcessContext {
  readonly pod: V1Pod;
  readonly volumeDir: (volume: string) => string;
  /** The container's host termination-log file. */
  readonly terminationLog: string;
  /** The host's environment (only HOST_ENV names are passed on). */
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  /** Values of the Secret and ConfigMap keys the env reads, by sourceKey; a key missing could not be read. */
  readonly sources: ReadonlyMap<string, string>;
  /** The attempt's rendezvous port; absent when no container asks for one. */
  readonly masterPort?: number;
  /** What `node` as argv[0] becomes (process.execPath). */
  readonly execPath: string;
  /** The cwd of a container whose workingDir is not inside a mount: the repository root. */
  readonly workDir: string;
}

export interface ProcessSpec {
  readonly argv: readonly [string, ...string[]];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

export interface ProcessPlan {
  /** Absent when the container cannot start (no command). */
  readonly spec?: ProcessSpec;
  readonly error?: string;
  /** Env variables left out, and why. */
  readonly leftOut: ReadonlyArray<{ readonly name: string; readonly why: string }>;
}

export function processPlan(container: V1Container, ctx: ProcessContext): ProcessPlan {
  const leftOut: Array<{ name: string; why: string }> = [];
  if ((container.envFrom ?? []).length > 0) leftOut.push({ name: '(envFrom)', why: 'envFrom is not supported in exec mode; name each key in env' });
  // The container's env as Kubernetes would compute it, in order (a value expands earlier ones),
  // with the rendezvous names pointed at loopback; paths are mapped only at the end, so a value
  // that expands another is mapped once.
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    let value: string | undefined;
    if (!e.valueFrom) value = expandVars(e.value ?? '', env);
    else if (e.valueFrom.fieldRef) value = fieldValue(ctx.pod, e.valueFrom.fieldRef.fieldPath);
    else {
      const source = sourceOf(e);
      value = source ? ctx.sources.get(sourceKey(source)) : undefined;
    }
    if (value === undefined) {
      leftOut.push({ name: e.name, why: 'its valueFrom could not be read (only literal values, readable secretKeyRef/configMapKeyRef and basic fieldRef)' });
      continue;
    }
    if (ADDRESS_ENV.has(e.name)) value = LOOPBACK;
    if (PORT_ENV.has(e.name) && ctx.masterPort !== undefined) value = String(ctx.masterPort);
    env[e.name] = value;
  }
  const mappings = pathMappings(ctx.pod, container, ctx.volumeDir, ctx.terminationLog);
  const command = [...(container.command ?? []), ...(container.args ?? [])].map((a) => mapPath(expandVars(a, env), mappings));
  const [program, ...args] = command;
  if (!container.command?.length || program === undefined)
    return { error: 'exec mode runs command + args and has no image entrypoint: the container sets no command', leftOut };
  const host = Object.fromEntries(HOST_ENV.flatMap((n) => (ctx.hostEnv[n] !== undefined ? [[n, ctx.hostEnv[n] as string]] : [])));
  const mapped = Object.fromEntries(Object.entries(env).map(([n, v]) => [n, mapPath(v, mappings)]));
  const workingDir = container.workingDir ? mapPath(container.workingDir, mappings) : undefined;
  return {
    spec: {
      argv: [program === 'node' ? ctx.execPath : program, ...args],
      env: { ...host, HOSTNAME: ctx.pod.spec?.hostname ?? ctx.pod.metadata?.name ?? '', ...mapped, [TERMINATION_LOG_ENV]: ctx.terminationLog },
      cwd: workingDir !== undefined && workingDir !== container.workingDir ? workingDir : ctx.workDir,
    },
    leftOut,
  };
}
