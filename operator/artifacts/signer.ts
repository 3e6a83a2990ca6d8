// The operator's receipt key: an EVM private key (the chain's key type), from the environment
// (FLOTILLA_RECEIPT_KEY, e.g. from a Secret via valueFrom) or a file (FLOTILLA_RECEIPT_KEY_FILE, a
// mounted Secret). The key never appears in logs; only its address does.
import { readFileSync } from 'node:fs';
import { Wallet } from 'ethers';

export function loadReceiptSigner(source: { readonly key?: string; readonly keyFile?: string }): Wallet | undefined {
  const raw = source.key ?? (source.keyFile ? readFileSync(source.keyFile, 'utf8') : undefined);
  if (raw === undefined) return undefined;
  const key = raw.trim();
  const hex = key.startsWith('0x') ? key : `0x${key}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`the receipt key${source.keyFile ? ` in ${source.keyFile}` : ''} is not a 32-byte hex private key`);
  return new Wallet(hex);
}
