// The provenance receipt of a finished job: what ran (spec hash, image, inputs), where and for how
// long (attempts), what came out (output and checkpoint CIDs) and how it was paid (settlement). It is
// signed by the operator's key with an EIP-191 personal-message signature over the receipt's
// canonical JSON (the chain's key type: anyone can recover the signer's address with ethers, viem
// or web3), then the signed document — itself canonical JSON — is added to IPFS.
//
//   job status ──receiptDue?──▶ buildReceipt ──canonicalJson──▶ signMessage ──▶ { receipt, signer, signature }
//                                                                                   │ canonicalJson
//                                                                                   ▼ kubo add + pin ─▶ status.receiptCID
//
// Which provider reported each CID: a checkpoint by the attempt it is recorded on
// (attempts[].provider), the output by outputReportedBy — only pods the operator created for that
// attempt are read (core/lifecycle/ownership.ts), so a CID names the provider that handed it in.
//
// Everything in a receipt is read from the job, never from the clock, and ECDSA signing in ethers is
// deterministic (RFC 6979): a restarted operator rebuilds the same bytes, hence the same CID.
import { createHash } from 'node:crypto';
import { verifyMessage } from 'ethers';
import type { AIJob, AIJobSpec } from '../api/types.ts';
import { AIJOB_CONDITION } from '../api/conditions.ts';
import { findCondition } from '../core/conditions.ts';
import { isTerminalPhase } from '../core/lifecycle/phases.ts';
import { canonicalJson } from './canonical-json.ts';
import { checkCid } from './cid.ts';

export const RECEIPT_TYPE = 'flotilla.dev/receipt/v1';

export interface ReceiptAttempt {
  readonly index: number;
  readonly provider: string;
  readonly gpuSeconds: number;
  readonly reason: string | null;
  readonly checkpointCID: string | null;
  /** The replicas' log tails kept when the attempt closed (a folder of r<replica>.log), when any was read. */
  readonly logTailCID?: string;
  /** Verification runs only (docs/verification.md): what the attempt was for and what it reported. */
  readonly purpose?: string;
  readonly outputCID?: string;
}

/** The verdict of a verified job: which runs checked which, the compared CIDs, the outcome. */
export interface ReceiptVerification {
  readonly state: string;
  readonly originalCID: string | null;
  readonly liar: { readonly attempt: number; readonly provider: string } | null;
  readonly verifier: { readonly attempt: number; readonly provider: string } | null;
  readonly slash: { readonly provider: string; readonly amount: string | null; readonly txHash: string | null } | null;
}

export interface Receipt {
  readonly type: typeof RECEIPT_TYPE;
  readonly job: { readonly namespace: string; readonly name: string; readonly uid: string };
  /** `sha256:<hex>` of the canonical JSON of the stored spec (defaults applied). */
  readonly specHash: string;
  readonly image: string;
  readonly inputs: ReadonlyArray<{ readonly name: string; readonly cid: string }>;
  readonly attempts: readonly ReceiptAttempt[];
  /** Succeeded, or why the job failed: the Finished condition's reason (the phase when it has none). */
  readonly outcome: string;
  readonly outputCID: string | null;
  /** The attempt (and its provider) whose replicas reported outputCID; null without an output. */
  readonly outputReportedBy: { readonly provider: string; readonly attempt: number } | null;
  readonly settlement: { readonly id: string | null; readonly txHash: string | null } | null;
  readonly completionTime: string | null;
  /** Present only on jobs that verify, so other receipts keep their bytes (and CIDs). */
  readonly verification?: ReceiptVerification;
}

export interface SignedReceipt {
  readonly receipt: Receipt;
  /** Checksummed address of the operator key that signed. */
  readonly signer: string;
  /** EIP-191 personal_sign signature over canonicalJson(receipt). */
  readonly signature: string;
}

/** What can sign: an ethers Wallet (or any ethers Signer). */
export interface ReceiptSigner {
  getAddress(): Promise<string>;
  signMessage(message: string): Promise<string>;
}

export function specHash(spec: AIJobSpec): string {
  return `sha256:${createHash('sha256').update(canonicalJson(spec)).digest('hex')}`;
}

export type ReceiptDue = { readonly due: true } | { readonly due: false; readonly why: string };

/**
 * Whether the job's receipt can be written now: the job is over, and when it is paid through the
 * escrow, the settlement reference exists (so the receipt carries it). Pins of what the receipt
 * references are the controller's business (it pins them first).
 */
export function receiptDue(job: AIJob): ReceiptDue {
  const status = job.status ?? {};
  if (status.receiptCID) return { due: false, why: 'the receipt is recorded' };
  if (!isTerminalPhase(status.phase)) return { due: false, why: `the job is ${status.phase ?? 'new'}, not finished` };
  if (job.spec.payment && status.phase !== 'Settled' && !status.settlement?.txHash) return { due: false, why: 'waiting for the settlement transaction' };
  return { due: true };
}

export function buildReceipt(job: AIJob): Receipt {
  const status = job.status ?? {};
  const finishedCondition = findCondition(status.conditions, AIJOB_CONDITION.Finished);
  const finished = finishedCondition?.status === 'True' ? finishedCondition : undefined;
  const settlement = status.settlement;
  return {
    type: RECEIPT_TYPE,
    job: { namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' },
    specHash: specHash(job.spec),
    image: job.spec.image,
    inputs: (job.spec.inputs ?? []).map((i) => ({ name: i.name, cid: i.cid })),
    attempts: (status.attempts ?? []).map((a) => ({
      index: a.index,
      provider: a.provider,
      gpuSeconds: a.gpuSeconds ?? 0,
      reason: a.reason ?? null,
      checkpointCID: a.checkpointCID ?? null,
      ...(a.logTailCID ? { logTailCID: a.logTailCID } : {}),
      ...(status.verification && a.purpose ? { purpose: a.purpose } : {}),
      ...(status.verification && a.outputCID ? { outputCID: a.outputCID } : {}),
    })),
    outcome: finished?.reason ?? status.phase ?? 'Unknown',
    outputCID: status.outputCID ?? null,
    outputReportedBy: ((a) => (status.outputCID && a ? { provider: a.provider, attempt: a.index } : null))(
      // The attempt that reported the job's output (after a refuted run: the agreeing re-execution).
      status.attempts?.findLast((x) => x.reason === 'Succeeded' && (x.outputCID === undefined || x.outputCID === status.outputCID)),
    ),
    settlement: settlement?.id || settlement?.txHash ? { id: settlement.id ?? null, txHash: settlement.txHash ?? null } : null,
    completionTime: status.completionTime ?? null,
    ...(status.verification
      ? {
          verification: {
            state: status.verification.state ?? 'Unknown',
            originalCID: status.verification.originalCID ?? null,
            liar: status.verification.liar ?? null,
            verifier: status.verification.verifier ?? null,
            slash: settlement?.slash
              ? { provider: settlement.slash.provider ?? '', amount: settlement.slash.amount ?? null, txHash: settlement.slash.txHash ?? null }
              : null,
          },
        }
      : {}),
  };
}

export interface ReferencedCid {
  /** Where the receipt names it, e.g. `inputs[dataset]`, `outputCID`, `attempts[2].checkpointCID`. */
  readonly what: string;
  readonly cid: string;
}

/** Every CID the receipt names, once each (first mention wins). */
export function referencedCids(receipt: Receipt): ReferencedCid[] {
  const all: ReferencedCid[] = [
    ...receipt.inputs.map((i) => ({ what: `inputs[${i.name}]`, cid: i.cid })),
    ...receipt.attempts.flatMap((a) => (a.checkpointCID ? [{ what: `attempts[${a.index}].checkpointCID`, cid: a.checkpointCID }] : [])),
    ...receipt.attempts.flatMap((a) => (a.logTailCID ? [{ what: `attempts[${a.index}].logTailCID`, cid: a.logTailCID }] : [])),
    ...(receipt.outputCID ? [{ what: 'outputCID', cid: receipt.outputCID }] : []),
  ];
  const seen = new Set<string>();
  return all.filter((r) => !seen.has(r.cid) && seen.add(r.cid));
}

export async function signReceipt(receipt: Receipt, signer: ReceiptSigner): Promise<SignedReceipt> {
  return { receipt, signer: await signer.getAddress(), signature: await signer.signMessage(canonicalJson(receipt)) };
}

/** The bytes added to IPFS. */
export function receiptDocument(signed: SignedReceipt): string {
  return canonicalJson(signed);
}

/** The address whose key produced the signature over the receipt as it is (any change moves it). */
export function recoverReceiptSigner(signed: SignedReceipt): string {
  return verifyMessage(canonicalJson(signed.receipt), signed.signature);
}

export class ReceiptFormatError extends Error {
  override readonly name = 'ReceiptFormatError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringOrNull = (v: unknown) => v === null || typeof v === 'string';

/** Parses a signed receipt document; throws ReceiptFormatError saying what is wrong. */
export function parseSignedReceipt(text: string): SignedReceipt {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ReceiptFormatError(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const fail = (what: string): never => {
    throw new ReceiptFormatError(`not a Flotilla receipt: ${what}`);
  };
  if (!isObject(doc)) return fail('the document is not an object');
  if (typeof doc.signer !== 'string' || typeof doc.signature !== 'string') return fail('signer and signature must be strings');
  const r = doc.receipt;
  if (!isObject(r)) return fail('receipt is missing');
  if (r.type !== RECEIPT_TYPE) return fail(`type is ${JSON.stringify(r.type)}, expected ${RECEIPT_TYPE}`);
  if (!isObject(r.job) || typeof r.specHash !== 'string' || typeof r.image !== 'string' || typeof r.outcome !== 'string')
    return fail('job, specHash, image or outcome is missing');
  if (!Array.isArray(r.inputs) || !r.inputs.every((i) => isObject(i) && typeof i.name === 'string' && checkCid(i.cid).ok))
    return fail('inputs must be {name, cid} with valid CIDs');
  if (
    !Array.isArray(r.attempts) ||
    !r.attempts.every(
      (a) =>
        isObject(a) &&
        typeof a.index === 'number' &&
        typeof a.provider === 'string' &&
        (a.checkpointCID === null || checkCid(a.checkpointCID).ok) &&
        (a.logTailCID === undefined || checkCid(a.logTailCID).ok),
    )
  )
    return fail('attempts must carry index, provider and a valid checkpointCID or null (and a valid logTailCID when present)');
  if (!(r.outputCID === null || checkCid(r.outputCID).ok)) return fail('outputCID must be a valid CID or null');
  if (!(
    r.outputReportedBy === undefined ||
    r.outputReportedBy === null ||
    (isObject(r.outputReportedBy) && typeof r.outputReportedBy.provider === 'string' && typeof r.outputReportedBy.attempt === 'number')
  ))
    return fail('outputReportedBy must be {provider, attempt} or null');
  if (!(r.settlement === null || (isObject(r.settlement) && isStringOrNull(r.settlement.id) && isStringOrNull(r.settlement.txHash))))
    return fail('settlement must be {id, txHash} or null');
  return doc as unknown as SignedReceipt;
}
