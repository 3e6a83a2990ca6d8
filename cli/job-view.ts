// How the CLI shows an AIJob to a person: a status summary, and the one-line progress reports of
// `watch` (a new line only when something a person cares about changed).
import type { AIJob } from '../operator/api/types.ts';
import { findCondition } from '../operator/core/conditions.ts';
import { isTerminalPhase } from '../operator/core/lifecycle/phases.ts';
import { age, table } from './output.ts';

export const phaseOf = (job: AIJob) => job.status?.phase ?? 'Pending';

/** Exit code for a job that ended: 0 unless it failed. */
export const exitCodeFor = (job: AIJob) => (phaseOf(job) === 'Failed' ? 1 : 0);

export function isDone(job: AIJob, until?: string): boolean {
  if (until) return phaseOf(job) === until || (isTerminalPhase(phaseOf(job)) && until !== 'Settled');
  return isTerminalPhase(phaseOf(job));
}

const condition = (job: AIJob, type: string) => findCondition(job.status?.conditions, type);

/** What `watch` prints for one version of the job (compared as text to skip repeats). */
export function progressLine(job: AIJob): string {
  const phase = phaseOf(job);
  const placement = job.status?.placement;
  const attempt = job.status?.attempts?.at(-1);
  const parts = [phase.padEnd(12)];
  if (attempt) parts.push(`attempt ${attempt.index} on ${attempt.provider}${placement?.product ? ` (${placement.product})` : ''}`);
  const scheduled = condition(job, 'Scheduled');
  const running = condition(job, 'Running');
  const preempted = condition(job, 'Preempted');
  const finished = condition(job, 'Finished');
  if (finished) parts.push(finished.message);
  else if (phase === 'Rescheduling' && preempted?.status === 'True') parts.push(`preempted: ${preempted.reason}: ${preempted.message}`);
  else if (scheduled && scheduled.status !== 'True') parts.push(`${scheduled.reason}: ${scheduled.message}`);
  else if (running) parts.push(running.message);
  if (job.status?.outputCID && !parts.some((p) => p.includes(job.status?.outputCID ?? ''))) parts.push(`output ${job.status.outputCID}`);
  if (job.status?.cost?.amount && Number(job.status.cost.amount) > 0) parts.push(`cost ${job.status.cost.amount} ${job.status.cost.token ?? ''}`.trim());
  if (job.status?.settlement?.txHash) parts.push(`settled in ${job.status.settlement.txHash}`);
  return parts.join(' — ');
}

/** The human form of `flotilla status`. */
export function statusText(job: AIJob, now = Date.now()): string {
  const s = job.status ?? {};
  const lines = [
    `AIJob      ${job.metadata.namespace}/${job.metadata.name}`,
    `Phase      ${phaseOf(job)}`,
    `Image      ${job.spec.image}`,
    `GPUs       ${job.spec.replicas} × ${job.spec.resources.gpus}${job.spec.gpu?.products ? ` (${job.spec.gpu.products.join(' | ')})` : ''}`,
    `Provider   ${s.placement?.provider ?? '-'}${s.placement?.product ? ` (${s.placement.product}${s.placement.pricePerGpuHour ? ` at ${s.placement.pricePerGpuHour}/GPU-hour` : ''})` : ''}`,
    `Age        ${age(job.metadata.creationTimestamp, now)}`,
  ];
  if (job.spec.payment)
    lines.push(
      `Payment    up to ${job.spec.payment.maxAmount} ${job.spec.payment.token}${s.cost?.amount ? `; cost so far ${s.cost.amount} ${s.cost.token ?? job.spec.payment.token}` : ''}`,
    );
  if (s.outputCID) lines.push(`Output     ${s.outputCID}`);
  if (s.verification?.state) lines.push(`Verified   ${s.verification.state}${s.verification.message ? `: ${s.verification.message}` : ''}`);
  if (s.settlement?.slash)
    lines.push(
      `Slashed    ${s.settlement.slash.amount ?? '?'} from ${s.settlement.slash.provider ?? '?'}${s.settlement.slash.txHash ? ` in ${s.settlement.slash.txHash}` : ''}`,
    );
  if (s.receiptCID) lines.push(`Receipt    ${s.receiptCID}`);
  if (s.settlement?.txHash)
    lines.push(`Settled    ${s.settlement.txHash} (${(s.settlement.amounts ?? []).map((a) => `${a.provider} ${a.amount}`).join(', ')})`);
  // Outcomes per phase from status.callbacks (older operators wrote an annotation).
  const callbacks =
    (s.callbacks ?? []).map((c) => `${c.phase} ${c.outcome}${c.code ? ` HTTP ${c.code}` : ''}`).join(', ') ||
    (job.metadata.annotations?.['flotilla.dev/callback-delivered'] ? `${job.metadata.annotations['flotilla.dev/callback-delivered']} Delivered` : '');
  if (job.spec.callbackURL) lines.push(`Callback   ${job.spec.callbackURL}${callbacks ? ` (${callbacks})` : ''}`);
  let text = lines.join('\n') + '\n';
  if (s.attempts?.length) {
    // What each attempt was for, only on jobs that verify (docs/verification.md).
    const purposes = s.verification !== undefined;
    text +=
      '\nAttempts\n' +
      table([
        ['#', 'PROVIDER', 'START', 'END', 'GPU-S', 'REASON', ...(purposes ? ['FOR'] : [])],
        ...s.attempts.map((a) => [
          String(a.index),
          a.provider,
          a.startTime ?? '-',
          a.endTime ?? '-',
          String(a.gpuSeconds ?? '-'),
          a.reason ?? (a.endTime ? '-' : 'running'),
          ...(purposes ? [a.purpose ?? 'Run'] : []),
        ]),
      ]);
  }
  if (s.conditions?.length) {
    text += '\nConditions\n' + table([['TYPE', 'STATUS', 'REASON', 'MESSAGE'], ...s.conditions.map((c) => [c.type, c.status, c.reason, c.message])]);
  }
  return text;
}
