// Where the local federation keeps its state and finds its tools. State lives in the repo's
// ignored `.flotilla/` (kubeconfigs, logs, pid files); tools live in the cache that
// scripts/tools.sh fills, at the versions pinned in scripts/versions.env.
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// Defined beside the CLI, which reads the federation's endpoints too but may not import federation/.
export { defaultStateDir } from '../cli/local-federation.ts';

export function cacheDir(): string {
  return process.env.FLOTILLA_CACHE ?? join(homedir(), '.cache', 'flotilla');
}

export type PinnedVersions = Readonly<Record<string, string>>;

/** Parses scripts/versions.env (KEY=value lines; # comments). */
export function parseVersionsEnv(text: string): PinnedVersions {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function pinnedVersions(): PinnedVersions {
  return parseVersionsEnv(readFileSync(join(repoRoot, 'scripts', 'versions.env'), 'utf8'));
}

export interface ToolPaths {
  readonly kubeVersion: string;
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubectl: string;
  readonly kwok: string;
  readonly kwokctl: string;
  readonly ipfs: string;
  readonly helm: string;
  readonly anvil: string;
}

/** One pinned version; throws naming the key when versions.env lacks it. */
export function pin(v: PinnedVersions, key: string): string {
  const value = v[key];
  if (!value) throw new Error(`scripts/versions.env has no ${key}`);
  return value;
}

export function toolPaths(versions: PinnedVersions = pinnedVersions()): ToolPaths {
  const tools = join(cacheDir(), 'tools');
  const kube = join(tools, `kubernetes-${pin(versions, 'KUBE_VERSION')}`, 'bin');
  const bin = (tool: string, key: string, name: string) => join(tools, `${tool}-${pin(versions, key)}`, 'bin', name);
  return {
    kubeVersion: pin(versions, 'KUBE_VERSION'),
    etcd: bin('etcd', 'ETCD_VERSION', 'etcd'),
    kubeApiserver: join(kube, 'kube-apiserver'),
    kubeControllerManager: join(kube, 'kube-controller-manager'),
    kubeScheduler: join(kube, 'kube-scheduler'),
    kubectl: join(kube, 'kubectl'),
    kwok: bin('kwok', 'KWOK_VERSION', 'kwok'),
    kwokctl: bin('kwok', 'KWOK_VERSION', 'kwokctl'),
    ipfs: bin('kubo', 'KUBO_VERSION', 'ipfs'),
    helm: bin('helm', 'HELM_VERSION', 'helm'),
    anvil: join(repoRoot, 'node_modules', '.bin', 'anvil'),
  };
}

/** Throws one message naming every missing tool and how to get it. */
export function assertToolsPresent(paths: ToolPaths = toolPaths()): void {
  const missing = Object.entries(paths)
    .filter(([key, path]) => key !== 'kubeVersion' && !existsSync(path))
    .map(([key, path]) => `${key} (${path})`);
  if (missing.length > 0) {
    throw new Error(`missing tools: ${missing.join(', ')}. Run 'make tools' (scripts/tools.sh) and 'npm ci' first.`);
  }
}
