// CPU time of the whole machine over a window, split by what each process is in the local
// federation (hub or provider control plane, the operator, the benchmark's own client). The
// dispatch benchmark takes one snapshot when a run's first create is sent and one when its last pod
// is bound: on one shared machine a throughput ratio is a ratio of CPU per job whenever both runs
// keep the cores busy, and this says where each job's CPU went (docs/scheduling.md, "What bounds
// dispatch now").
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { clockTicks, cpuTicksFromStat } from './proc.ts';

export const CPU_GROUPS = [
  'hub kube-apiserver',
  'hub etcd, kube-controller-manager',
  "providers' kube-apiservers",
  "providers' etcd, kube-scheduler, kube-controller-manager, kwok",
  'operator',
  'benchmark client',
  'everything else',
] as const;
export type CpuGroup = (typeof CPU_GROUPS)[number];

/** The processes a benchmark knows by pid: its own, and the operator it started (if any). */
export interface KnownPids {
  readonly self: number;
  readonly operator?: number;
}

/**
 * What a process is, from its command line (NUL-separated, as /proc/<pid>/cmdline has it). The
 * federation's control planes run binaries that kwokctl copies into `…/clusters/<cluster>/bin/`
 * (federation/clusters.ts); the hub is the cluster named `hub`, every other one a provider.
 */
export function groupOf(pid: number, cmdline: string, known: KnownPids): CpuGroup {
  if (pid === known.operator) return 'operator';
  if (pid === known.self) return 'benchmark client';
  // The executable only: a client may name a cluster's files in its arguments.
  const m = /\/clusters\/([^/]+)\/bin\/([^/]+)$/.exec(cmdline.split('\0')[0] ?? '');
  if (!m) return 'everything else';
  const [, cluster, binary] = m as unknown as [string, string, string];
  if (cluster === 'hub') return binary === 'kube-apiserver' ? 'hub kube-apiserver' : 'hub etcd, kube-controller-manager';
  return binary === 'kube-apiserver' ? "providers' kube-apiservers" : "providers' etcd, kube-scheduler, kube-controller-manager, kwok";
}

/** Busy ticks of all CPUs from /proc/stat's first line (user nice system idle iowait irq softirq steal …): all but idle and iowait. */
export function busyTicksFromProcStat(stat: string): number {
  const line = stat.split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
}

export interface CpuSnapshot {
  readonly at: number;
  /** Seconds every CPU of the machine has been busy since boot. */
  readonly busySeconds: number;
  /** Seconds of CPU used so far by each live process, by pid, with its group. */
  readonly processes: ReadonlyMap<number, { readonly group: CpuGroup; readonly seconds: number }>;
}

export function snapshotCpu(known: KnownPids, now = Date.now()): CpuSnapshot {
  const hz = clockTicks();
  const processes = new Map<number, { group: CpuGroup; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      processes.set(pid, { group: groupOf(pid, cmdline, known), seconds: cpuTicksFromStat(stat) / hz });
    } catch {
      // Gone between the listing and the read: its time is in the machine's busy total.
    }
  }
  return { at: now, busySeconds: busyTicksFromProcStat(readFileSync('/proc/stat', 'utf8')) / hz, processes };
}

export interface CpuWindow {
  readonly wallSeconds: number;
  readonly cores: number;
  /** Busy CPU seconds of the machine ÷ (cores × wall): 1 = every core busy the whole window. */
  readonly utilisation: number;
  readonly busySeconds: number;
  /** CPU seconds by group; `everything else` also holds what no live process accounts for (processes that ended, the kernel). */
  readonly seconds: Readonly<Record<CpuGroup, number>>;
}

/** CPU used between two snapshots, by group. A process that started inside the window counts from zero. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, cores = availableParallelism()): CpuWindow {
  const seconds = Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>;
  for (const [pid, p] of b.processes) {
    const before = a.processes.get(pid);
    seconds[p.group] += p.seconds - (before && before.group === p.group ? before.seconds : 0);
  }
  const busySeconds = b.busySeconds - a.busySeconds;
  const attributed = CPU_GROUPS.filter((g) => g !== 'everything else').reduce((s, g) => s + seconds[g], 0);
  seconds['everything else'] = Math.max(0, busySeconds - attributed);
  const wallSeconds = (b.at - a.at) / 1000;
  return { wallSeconds, cores, utilisation: wallSeconds > 0 ? busySeconds / (cores * wallSeconds) : Number.NaN, busySeconds, seconds };
}

export interface CpuPerJob {
  /** Milliseconds of CPU per job (or pod) by group, and in all. */
  readonly ms: Readonly<Record<CpuGroup, number>>;
  readonly totalMs: number;
  readonly utilisation: number;
}

export function perJob(w: CpuWindow, jobs: number): CpuPerJob {
  const ms = Object.fromEntries(CPU_GROUPS.map((g) => [g, (1000 * w.seconds[g]) / jobs])) as Record<CpuGroup, number>;
  return { ms, totalMs: (1000 * w.busySeconds) / jobs, utilisation: w.utilisation };
}

/**
 * What the CPU alone predicts for the throughput ratio when both runs keep the machine equally busy:
 * the raw loop's CPU per pod over Flotilla's per job — and the same with the operator's own share
 * taken out (a zero-CPU operator: the most any change to the operator's code could reach here).
 */
export function cpuBound(raw: CpuPerJob, flotilla: CpuPerJob): { ratio: number; withoutOperator: number } {
  return { ratio: raw.totalMs / flotilla.totalMs, withoutOperator: raw.totalMs / (flotilla.totalMs - flotilla.ms.operator) };
}
