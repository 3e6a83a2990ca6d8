// CIDs as the operator accepts them: parsed by multiformats (the parser kubo-rpc-client itself uses),
// not matched by a regex, so a string that looks right but does not decode (bad multibase, bad
// multihash, truncated) is refused with the parser's reason.
import { CID } from 'kubo-rpc-client';

export type CidCheck = { readonly ok: true; readonly cid: CID; readonly version: 0 | 1 } | { readonly ok: false; readonly message: string };

/** Longest CID string status fields hold (status.outputCID, attempts[].checkpointCID maxLength). */
export const MAX_CID_LENGTH = 128;

/** Parses a CIDv0 (Qm…, base58btc) or CIDv1 (base32 b…, base58btc z…, base36 k…). */
export function checkCid(value: unknown): CidCheck {
  if (typeof value !== 'string') return { ok: false, message: `expected a CID string, got ${value === null ? 'null' : typeof value}` };
  if (value.length === 0) return { ok: false, message: 'the CID is empty' };
  if (value.length > MAX_CID_LENGTH) return { ok: false, message: `the CID is longer than ${MAX_CID_LENGTH} characters` };
  if (value.trim() !== value) return { ok: false, message: 'the CID has surrounding whitespace' };
  try {
    const cid = CID.parse(value);
    return { ok: true, cid, version: cid.version };
  } catch (err) {
    return { ok: false, message: `"${value}" is not a CID: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function isCid(value: unknown): value is string {
  return checkCid(value).ok;
}

/** Parses or throws an Error naming `what` (e.g. "spec.inputs[dataset].cid"). */
export function parseCid(value: string, what = 'CID'): CID {
  const checked = checkCid(value);
  if (!checked.ok) throw new Error(`${what}: ${checked.message}`);
  return checked.cid;
}
