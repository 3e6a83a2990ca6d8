// Verifies a provenance receipt by CID against an IPFS node: the document parses, its signature
// recovers the operator address the verifier trusts (not merely the address the document claims),
// and the receipt and every CID it names are pinned on that node.
import { getAddress } from 'ethers';
import { errorMessage } from '../log.ts';
import type { KuboNode } from './kubo.ts';
import { parseSignedReceipt, recoverReceiptSigner, referencedCids } from './receipt.ts';
import type { SignedReceipt } from './receipt.ts';

export interface PinCheck {
  readonly what: string;
  readonly cid: string;
  readonly pinned: boolean;
}

export interface ReceiptVerification {
  readonly ok: boolean;
  readonly cid: string;
  readonly signed?: SignedReceipt;
  /** Address the signature recovers to. */
  readonly recovered?: string;
  readonly pins: readonly PinCheck[];
  /** Empty when ok; otherwise one sentence per failed check. */
  readonly problems: readonly string[];
}

const MAX_RECEIPT_BYTES = 1024 * 1024;

export async function verifyReceipt(kubo: KuboNode, cid: string, expected: { readonly signer: string }): Promise<ReceiptVerification> {
  const problems: string[] = [];
  let trusted: string;
  try {
    trusted = getAddress(expected.signer);
  } catch {
    return { ok: false, cid, pins: [], problems: [`${expected.signer} is not an EVM address`] };
  }
  let signed: SignedReceipt;
  try {
    signed = parseSignedReceipt(Buffer.from(await kubo.cat(cid, { maxBytes: MAX_RECEIPT_BYTES, timeoutMs: 30_000 })).toString('utf8'));
  } catch (err) {
    return { ok: false, cid, pins: [], problems: [`cannot read receipt ${cid}: ${errorMessage(err)}`] };
  }
  let recovered: string | undefined;
  try {
    recovered = recoverReceiptSigner(signed);
  } catch (err) {
    problems.push(`the signature does not parse: ${errorMessage(err)}`);
  }
  if (recovered !== undefined && recovered !== trusted) problems.push(`the signature recovers ${recovered}, not the operator ${trusted}`);
  if (recovered !== undefined && recovered !== signed.signer)
    problems.push(`the document claims signer ${signed.signer} but the signature recovers ${recovered}`);
  const pins: PinCheck[] = [];
  for (const r of [{ what: 'receipt', cid }, ...referencedCids(signed.receipt)]) {
    try {
      pins.push({ ...r, pinned: await kubo.isPinned(r.cid) });
    } catch (err) {
      problems.push(`cannot check the pin of ${r.what} ${r.cid}: ${errorMessage(err)}`);
    }
  }
  for (const p of pins) if (!p.pinned) problems.push(`${p.what} ${p.cid} is not pinned on ${kubo.api}`);
  return { ok: problems.length === 0, cid, signed, ...(recovered ? { recovered } : {}), pins, problems };
}

/** The verification as lines for a terminal. */
export function formatVerification(v: ReceiptVerification): string {
  const lines = [`receipt ${v.cid}: ${v.ok ? 'VALID' : 'INVALID'}`];
  if (v.signed) {
    const r = v.signed.receipt;
    lines.push(
      `  job        ${r.job.namespace}/${r.job.name} (${r.job.uid})`,
      `  outcome    ${r.outcome}`,
      `  image      ${r.image}`,
      `  spec       ${r.specHash}`,
    );
    for (const a of r.attempts) lines.push(`  attempt ${a.index}  ${a.provider}, ${a.gpuSeconds} GPU-s, ${a.reason ?? 'open'}`);
    if (r.settlement) lines.push(`  settlement ${r.settlement.id ?? '-'} tx ${r.settlement.txHash ?? '-'}`);
    lines.push(`  signer     ${v.recovered ?? '?'}`);
  }
  for (const p of v.pins) lines.push(`  ${p.pinned ? 'pinned ' : 'MISSING'}    ${p.what} ${p.cid}`);
  for (const p of v.problems) lines.push(`  problem: ${p}`);
  return lines.join('\n') + '\n';
}
