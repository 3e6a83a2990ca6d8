// Where the local federation (federation/, a development tool that is not shipped) keeps its
// state: $FLOTILLA_STATE_DIR, else the repository's ignored `.flotilla/`. The CLI reads the
// federation's endpoints there as its last fallback. This is the one definition: federation/paths.ts
// re-exports it, so shipped code (cli/, operator/, pulumi/) never imports federation/
// (eslint.config.js, operator/boundaries.test.ts) and the two cannot disagree.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file sits in cli/. */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function defaultStateDir(): string {
  return process.env.FLOTILLA_STATE_DIR ?? join(repoRoot, '.flotilla');
}
