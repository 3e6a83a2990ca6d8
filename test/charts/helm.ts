// What the chart tests share: helm and kubectl against the federation's clusters, and a parser for
// `kubectl auth can-i --list`'s table.
import { runCommand } from '../../federation/command.ts';
import { toolPaths } from '../../federation/paths.ts';

export const helm = async (args: readonly string[]) => (await runCommand(toolPaths().helm, args, { timeoutMs: 90_000 })).stdout;

export const kubectl = async (kubeconfig: string, args: readonly string[], input?: string) =>
  (await runCommand(toolPaths().kubectl, ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) })).stdout;

/** `kubectl auth can-i VERB RESOURCE`: true for "yes"; a "no" exits 1 and answers false. */
export async function canI(kubeconfig: string, args: readonly string[]): Promise<boolean> {
  try {
    return (await kubectl(kubeconfig, ['auth', 'can-i', ...args])).trim() === 'yes';
  } catch (err) {
    if (/\bno\b/.test(String(err))) return false;
    throw err;
  }
}

export interface AccessRule {
  readonly resource: string;
  readonly nonResourceURLs: string;
  readonly resourceNames: string;
  readonly verbs: string;
}

/** Rows of `kubectl auth can-i --list`, cut at the header's column offsets (cells may be empty). */
export function parseCanIList(table: string): AccessRule[] {
  const [header, ...rows] = table.split('\n').filter((l) => l.trim() !== '');
  if (!header) return [];
  const at = ['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs'].map((h) => header.indexOf(h));
  if (at.some((i) => i < 0)) throw new Error(`unexpected can-i --list header: ${header}`);
  const cell = (row: string, i: number) => row.slice(at[i], i + 1 < at.length ? at[i + 1] : undefined).trim();
  return rows.map((row) => ({ resource: cell(row, 0), nonResourceURLs: cell(row, 1), resourceNames: cell(row, 2), verbs: cell(row, 3) }));
}

/** The rendered documents of a multi-document YAML stream, minus empty ones. */
export const documents = (rendered: string) => rendered.split(/^---$/m).filter((d) => /^kind:/m.test(d));
