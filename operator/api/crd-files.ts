// Renders the CRDs as the YAML text checked in under crds/. Deterministic: key order is the order
// the schemas are written in, no anchors (shared schema objects would otherwise become &refs), no
// line folding, so the drift test and `generate-crds.ts --check` compare text byte for byte.
import * as yaml from 'js-yaml';
import { crdFileName, crds } from './crds.ts';
import type { CustomResourceDefinition } from './crds.ts';

export const CRD_DIR = 'crds';

const HEADER = '# Generated from operator/api by `node operator/api/generate-crds.ts`. Do not edit.\n';

export function renderCrd(crd: CustomResourceDefinition): string {
  return HEADER + yaml.dump(crd, { noRefs: true, lineWidth: -1, sortKeys: false, quotingType: "'" });
}

export interface GeneratedFile {
  /** Relative to the repository root. */
  readonly path: string;
  readonly content: string;
}

export function renderCrdFiles(): GeneratedFile[] {
  return crds.map((c) => ({ path: `${CRD_DIR}/${crdFileName(c)}`, content: renderCrd(c) }));
}
