// Pod logs of exec-mode pods (process-runner.ts): what makes `kubectl logs` — and so `flotilla logs`
// — show a process's output. The provider's apiserver proxies pods/log to the node's kubelet
// server, here the KWOK controller, which serves a container's log only from a file that a `Logs`
// object (kwok.x-k8s.io/v1alpha1, named and namespaced as the pod) names for it, read with the
// kubelet's own CRI log reader (k8s.io/cri-client/pkg/logs): one record per line,
//
//   <RFC 3339 time> <stdout|stderr> <F|P> <content>\n
//
// F ends a line (the reader gives back content + '\n'), P is a piece of one (content alone). The
// records are cut as containerd cuts them: each '\n'-ended line is one F record; a line longer
// than MAX_CRI_LINE_BYTES is sent as P pieces of that size first; bytes left without a '\n' when
// the stream ends become one P record. This file is pure: bytes and times in, bytes out.
import { dirname, join } from 'node:path';
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { allContainers } from './process-plan.ts';
import type { PodLayout } from './process-plan.ts';

export type LogStream = 'stdout' | 'stderr';
export type CriTag = 'F' | 'P';

/** containerd's default max_container_log_line_size: a longer line is split into partial records. */
export const MAX_CRI_LINE_BYTES = 16 * 1024;

const NEWLINE = 0x0a;

/** One record. Milliseconds are all a Date holds; the reader accepts any number of fraction digits. */
export function criRecord(time: Date, stream: LogStream, tag: CriTag, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${time.toISOString()} ${stream} ${tag} `), content, Buffer.from([NEWLINE])]);
}

/**
 * One stream's bytes, as they arrive, turned into records. A line's record carries the time its
 * last byte arrived (containerd stamps a record when it writes it); the split does not depend on
 * how the bytes were chunked.
 */
export class CriLineEncoder {
  private pending: Buffer = Buffer.alloc(0);
  private readonly stream: LogStream;
  private readonly maxBytes: number;

  constructor(stream: LogStream, maxBytes = MAX_CRI_LINE_BYTES) {
    this.stream = stream;
    this.maxBytes = maxBytes;
  }

  /** The records `chunk` completes; what is left of an unfinished line waits for the next chunk. */
  write(chunk: Buffer, time: Date): Buffer {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const records: Buffer[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE, start); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      const rest = this.pieces(data.subarray(start, nl), time, records);
      records.push(criRecord(time, this.stream, 'F', rest));
      start = nl + 1;
    }
    // Copied: `chunk` may be a pooled buffer its owner reuses.
    this.pending = Buffer.from(this.pieces(data.subarray(start), time, records));
    return Buffer.concat(records);
  }

  /** The stream ended: an unfinished line is written as it is, a partial record (as containerd does). */
  end(time: Date): Buffer {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest.length > 0 ? criRecord(time, this.stream, 'P', rest) : Buffer.alloc(0);
  }

  /** Cuts P records of maxBytes off `line` while it is longer than that; returns what is left. */
  private pieces(line: Buffer, time: Date, records: Buffer[]): Buffer {
    let rest = line;
    while (rest.length > this.maxBytes) {
      records.push(criRecord(time, this.stream, 'P', rest.subarray(0, this.maxBytes)));
      rest = rest.subarray(this.maxBytes);
    }
    return rest;
  }
}

/** Beside the plain `log` (raw stdout and stderr, which the executor and tests read): the CRI records KWOK serves. */
export const criLogPath = (layout: PodLayout, container: string): string => join(dirname(layout.log(container)), 'cri.log');

/** Installed in provider clusters by `kwokctl create cluster --enable-crds Logs` (federation/clusters.ts). */
export const KWOK_LOGS = { group: 'kwok.x-k8s.io', version: 'v1alpha1', plural: 'logs', kind: 'Logs' } as const;

export interface KwokLogs {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string; readonly ownerReferences: readonly V1OwnerReference[] };
  readonly spec: { readonly logs: ReadonlyArray<{ readonly containers: readonly string[]; readonly logsFile: string; readonly follow: boolean }> };
}

/**
 * The pod's `Logs` object: every container (init containers and sidecars too, for `kubectl logs -c`)
 * mapped to its CRI file. Owned by the pod, so the provider's garbage collector removes it with the
 * pod even when no executor is there to. (`follow` is what kwok's docs ask for; the v0.8.0 server
 * follows when the request says so, whatever the object says.)
 */
export function podLogsObject(pod: V1Pod, layout: PodLayout): KwokLogs {
  const containers = allContainers(pod).map((c) => c.name);
  return {
    apiVersion: `${KWOK_LOGS.group}/${KWOK_LOGS.version}`,
    kind: KWOK_LOGS.kind,
    metadata: {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' }],
    },
    spec: { logs: containers.map((name) => ({ containers: [name], logsFile: criLogPath(layout, name), follow: true })) },
  };
}
