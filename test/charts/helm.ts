// What the chart tests share: helm and kubectl against the federation's clusters, and a parser for
// `kubectl auth can-i --list`'s table.
import { execFile } from 'node:child_process';
import { runCommand } from '../../federation/command.ts';
import { toolPaths } from '../../federation/paths.ts';

/**
 * helm; `template` renders for the federation's Kubernetes version unless told another: the charts' kubeVersion refuses
 * helm's offline default (v1.20.0 in a helm built by `go install`, which sets no version ldflags).
 */
export const helm = async (args: readonly string[]) =>
  (
    await runCommand(
      toolPaths().helm,
      args[0] === 'template' && !args.includes('--kube-version') ? [...args, '--kube-version', toolPaths().kubeVersion] : args,
      { timeoutMs: 90_000 },
    )
  ).stdout;

export const kubectl = async (kubeconfig: string, args: readonly string[], input?: string) =>
  (await runCommand(toolPaths().kubectl, ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) })).stdout;

/** `kubectl auth can-i …`: "yes" (exit 0) is true, "no" (exit 1) false; anything else throws. */
export function canI(kubeconfig: string, args: readonly string[]): Promise<boolean> {
  return new Promise((resolve, reject) => {
    execFile(toolPaths().kubectl, ['--kubeconfig', kubeconfig, 'auth', 'can-i', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const answer = stdout.trim();
      if (answer === 'yes' && !err) return resolve(true);
      if (answer === 'no' && err?.code === 1) return resolve(false);
      reject(new Error(`kubectl auth can-i ${args.join(' ')}: ${answer} ${stderr}`));
    });
  });
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
