// A process's footprint from Linux /proc: resident memory (status: VmRSS, VmHWM) and CPU time
// (stat: utime + stime, in clock ticks). Sampled by the dispatch benchmark while the operator works.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface ProcSample {
  readonly at: number;
  readonly rssKiB: number;
  readonly hwmKiB: number;
  /** utime + stime of the process, in seconds. */
  readonly cpuSeconds: number;
}

let ticks: number | undefined;
/** USER_HZ (getconf CLK_TCK); 100 on every Linux we run on, asked once. */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** utime + stime in ticks from a /proc/<pid>/stat line (the command may contain spaces and parentheses). */
export function cpuTicksFromStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0; utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

export function kibFromStatus(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) : Number.NaN;
}

export function sampleProcess(pid: number, now = Date.now()): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { at: now, rssKiB: kibFromStatus(status, 'VmRSS'), hwmKiB: kibFromStatus(status, 'VmHWM'), cpuSeconds: cpuTicksFromStat(stat) / clockTicks() };
  } catch {
    return undefined;
  }
}

/** Samples `pid` every `everyMs` until stopped. */
export function startSampler(pid: number, everyMs = 1000): { samples: ProcSample[]; stop: () => void } {
  const samples: ProcSample[] = [];
  const take = () => {
    const s = sampleProcess(pid);
    if (s) samples.push(s);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
    },
  };
}

/** CPU use between two samples, as a share of one core (1.0 = one core busy the whole time). */
export function cpuShare(a: ProcSample, b: ProcSample): number {
  return b.at > a.at ? (b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000) : Number.NaN;
}
