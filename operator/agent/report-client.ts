// Sends one checkpoint report (report.ts says what the answer means). Bounded: a deadline per
// request, at most 4 KiB of the answer read (it is only logged), no redirects followed (the token
// goes to the URL the operator set, nowhere else).
import type { ReportTarget } from './config.ts';
import { classifyReportResponse, networkFailure } from './report.ts';
import type { CheckpointReportBody, ReportOutcome } from './report.ts';

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_DETAIL_BYTES = 4096;

async function boundedText(res: Response): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  if (!reader) return '';
  try {
    while (size < MAX_DETAIL_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, MAX_DETAIL_BYTES).toString('utf8').trim();
}

export async function sendReport(target: ReportTarget, body: CheckpointReportBody, signal?: AbortSignal): Promise<ReportOutcome> {
  const deadline = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return networkFailure(cause ?? (err instanceof Error ? `${err.name}: ${err.message}` : String(err)));
  }
  const detail = await boundedText(res).catch(() => '');
  return classifyReportResponse(res.status, res.headers.get('retry-after'), detail, Date.now());
}
