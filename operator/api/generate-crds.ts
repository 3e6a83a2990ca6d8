// Writes crds/*.yaml (and the hub chart's copy in charts/flotilla/crds/) from the schemas in
// operator/api, and the generated tables of docs/api.md.
//   node operator/api/generate-crds.ts           write the files
//   node operator/api/generate-crds.ts --check   exit 1 if any checked-in file differs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderApiReference } from './api-reference.ts';
import { renderCrdFiles } from './crd-files.ts';
import type { GeneratedFile } from './crd-files.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function generatedFiles(): GeneratedFile[] {
  const docPath = 'docs/api.md';
  const doc = readOrEmpty(join(repoRoot, docPath));
  const crds = renderCrdFiles();
  // Helm installs a chart's crds/ first and never templates them: the chart carries a plain copy.
  const chartCopies = crds.map((f) => ({ path: f.path.replace(/^crds\//, 'charts/flotilla/crds/'), content: f.content }));
  return [...crds, ...chartCopies, { path: docPath, content: renderApiReference(doc) }];
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const stale: string[] = [];
  for (const file of generatedFiles()) {
    const path = join(repoRoot, file.path);
    if (readOrEmpty(path) === file.content) continue;
    stale.push(file.path);
    if (!check) writeFileSync(path, file.content);
  }
  if (check && stale.length > 0) {
    console.error(`out of date (run node operator/api/generate-crds.ts): ${stale.join(', ')}`);
    return 1;
  }
  console.log(check ? 'CRDs and docs/api.md are up to date' : stale.length > 0 ? `wrote ${stale.join(', ')}` : 'nothing to write');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
