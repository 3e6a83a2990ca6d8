// Typed access to the compiled contracts in contracts/build/ (written by `node contracts/build.ts`).
// Deliberately free of ethers and solc: an artifact is plain JSON that any client can deploy or call.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const buildDir = join(dirname(fileURLToPath(import.meta.url)), 'build');

/** Contracts the build produces; FlotillaEscrow and TestStablecoin are the ones the operator uses. */
export type ContractName = 'FlotillaEscrow' | 'TestStablecoin' | 'HostileToken';

/** One ABI entry as solc emits it (a structural subset that ethers' `InterfaceAbi` accepts). */
export interface AbiEntry {
  readonly type: string;
  readonly name?: string;
  readonly inputs?: readonly AbiParameter[];
  readonly outputs?: readonly AbiParameter[];
  readonly stateMutability?: string;
  readonly anonymous?: boolean;
}

export interface AbiParameter {
  readonly name: string;
  readonly type: string;
  readonly internalType?: string;
  readonly indexed?: boolean;
  readonly components?: readonly AbiParameter[];
}

export interface ContractArtifact {
  readonly contractName: string;
  readonly sourceName: string;
  readonly abi: readonly AbiEntry[];
  /** Creation bytecode, 0x-prefixed. */
  readonly bytecode: string;
  /** Runtime bytecode, 0x-prefixed (compare with eth_getCode to check a deployment). */
  readonly deployedBytecode: string;
  readonly compiler: { readonly version: string; readonly settings: unknown };
  /** Hash of the sources, compiler and settings the artifact was built from. */
  readonly sourceHash: string;
}

export class ContractArtifactMissingError extends Error {
  constructor(name: string, file: string, options?: { cause?: unknown }) {
    super(`contract artifact ${name} not found at ${file}: run the contract build first (node contracts/build.ts)`, options);
    this.name = 'ContractArtifactMissingError';
  }
}

export function loadArtifact(name: ContractName, dir: string = buildDir): ContractArtifact {
  const file = join(dir, `${name}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ContractArtifactMissingError(name, file, { cause });
  }
  const artifact = JSON.parse(text) as ContractArtifact;
  if (artifact.contractName !== name || !Array.isArray(artifact.abi) || !artifact.bytecode.startsWith('0x')) {
    throw new Error(`contract artifact ${file} is malformed: rebuild with node contracts/build.ts --force`);
  }
  return artifact;
}
