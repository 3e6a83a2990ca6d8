// The machine's CPU by process group (machine-cpu.ts): what each federation process is, /proc/stat's
// busy time, and the per-job figures and bound the dispatch benchmark prints.
import { describe, expect, it } from '@jest/globals';
import { busyTicksFromProcStat, cpuBetween, cpuBound, groupOf, perJob } from './machine-cpu.ts';
import type { CpuGroup, CpuSnapshot } from './machine-cpu.ts';

const bin = (cluster: string, binary: string) => `/work/main/.flotilla/kwok/${cluster}/clusters/${cluster}/bin/${binary}\0--flag=x\0`;

describe('groupOf', () => {
  const known = { self: 10, operator: 20 };
  it.each<[string, string, CpuGroup]>([
    ['the hub apiserver', bin('hub', 'kube-apiserver'), 'hub kube-apiserver'],
    ["the hub's etcd", bin('hub', 'etcd'), 'hub etcd, kube-controller-manager'],
    ["the hub's controller manager", bin('hub', 'kube-controller-manager'), 'hub etcd, kube-controller-manager'],
    ["a provider's apiserver", bin('provider-a', 'kube-apiserver'), "providers' kube-apiservers"],
    ["a test's own provider cluster", bin('pe-1a2b3c-x', 'kube-apiserver'), "providers' kube-apiservers"],
    ["a provider's kwok", bin('provider-b', 'kwok-controller'), "providers' etcd, kube-scheduler, kube-controller-manager, kwok"],
    ["a provider's scheduler", bin('provider-c', 'kube-scheduler'), "providers' etcd, kube-scheduler, kube-controller-manager, kwok"],
    ['Kubo', '/root/.cache/flotilla/tools/kubo-v0.42.0/bin/ipfs\0daemon\0', 'everything else'],
    // A cluster's name in an argument, not in the binary's path, is not that cluster's process.
    ['a client naming a cluster', '/usr/bin/kubectl\0--kubeconfig=/x/clusters/hub/bin/kube-apiserver\0', 'everything else'],
  ])('%s', (_, cmdline, group) => {
    expect(groupOf(99, cmdline, known)).toBe(group);
  });
  it('knows the operator and the benchmark itself by pid, whatever they run', () => {
    expect(groupOf(20, '/node\0operator/main.ts\0', known)).toBe('operator');
    expect(groupOf(10, bin('hub', 'kube-apiserver'), known)).toBe('benchmark client');
  });
});

describe('busyTicksFromProcStat', () => {
  it('counts user, nice, system, irq, softirq and steal, not idle or iowait', () => {
    expect(busyTicksFromProcStat('cpu  100 2 30 5000 40 6 7 8 0 0\ncpu0 50 1 15 2500 20 3 3 4 0 0\n')).toBe(100 + 2 + 30 + 6 + 7 + 8);
  });
});

describe('cpuBetween', () => {
  const snap = (at: number, busySeconds: number, processes: [number, CpuGroup, number][]): CpuSnapshot => ({
    at,
    busySeconds,
    processes: new Map(processes.map(([pid, group, seconds]) => [pid, { group, seconds }])),
  });
  const a = snap(0, 100, [
    [1, 'hub kube-apiserver', 50],
    [2, 'operator', 5],
    [3, 'everything else', 1],
  ]);
  const b = snap(10_000, 118, [
    [1, 'hub kube-apiserver', 56],
    [2, 'operator', 9],
    // Started inside the window: all its time counts.
    [4, "providers' kube-apiservers", 3],
  ]);
  const w = cpuBetween(a, b, 2);
  it('splits the busy time by group, counting a new process from zero', () => {
    expect(w.seconds['hub kube-apiserver']).toBe(6);
    expect(w.seconds.operator).toBe(4);
    expect(w.seconds["providers' kube-apiservers"]).toBe(3);
  });
  it('puts what no live process accounts for (one that ended, the kernel) under everything else', () => {
    expect(w.busySeconds).toBe(18);
    expect(w.seconds['everything else']).toBe(18 - 6 - 4 - 3);
  });
  it('gives the share of all cores kept busy', () => {
    expect(w.wallSeconds).toBe(10);
    expect(w.utilisation).toBeCloseTo(0.9, 10);
  });
  it('per job, and the ratio the CPU allows with and without the operator', () => {
    const flotilla = perJob(w, 100);
    expect(flotilla.totalMs).toBeCloseTo(180, 10);
    expect(flotilla.ms.operator).toBeCloseTo(40, 10);
    const raw = perJob(cpuBetween(snap(0, 0, []), snap(5_000, 9, []), 2), 100);
    expect(raw.totalMs).toBeCloseTo(90, 10);
    const bound = cpuBound(raw, flotilla);
    expect(bound.ratio).toBeCloseTo(0.5, 10);
    expect(bound.withoutOperator).toBeCloseTo(90 / 140, 10);
  });
});
