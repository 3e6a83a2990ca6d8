// Fails when crds/*.yaml or the generated tables of docs/api.md no longer match the schemas:
// run `node operator/api/generate-crds.ts` and commit the result.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { renderApiReference } from './api-reference.ts';
import { renderCrdFiles } from './crd-files.ts';
import { aiJobCrd, gpuProviderCrd } from './crds.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

describe('generated files', () => {
  it.each(renderCrdFiles().map((f) => [f.path, f.content] as const))('%s is what the schemas generate', (path, content) => {
    expect(read(path)).toBe(content);
  });

  it('docs/api.md has the tables the schemas generate', () => {
    const doc = read('docs/api.md');
    expect(renderApiReference(doc)).toBe(doc);
  });

  it.each([
    ['crds/flotilla.dev_aijobs.yaml', aiJobCrd],
    ['crds/flotilla.dev_gpuproviders.yaml', gpuProviderCrd],
  ] as const)('%s parses back to the CRD object it was rendered from', (path, crd) => {
    expect(yaml.load(read(path))).toEqual(JSON.parse(JSON.stringify(crd)));
  });

  it('rendering twice gives the same text', () => {
    expect(renderCrdFiles()).toEqual(renderCrdFiles());
  });
});
