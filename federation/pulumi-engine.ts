// The real Pulumi engine on this machine: the CLI and the Kubernetes resource provider that
// scripts/tools.sh builds from Go modules (`scripts/tools.sh pulumi`), driven through the
// Automation API's inline programs — the Node process serves the language runtime itself, so no
// Node.js language host is needed. State goes to a local file backend and secrets are encrypted with
// a passphrase kept beside it, both under the given state directory: nothing touches ~/.pulumi or
// a Pulumi Cloud account.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { cacheDir, pin, pinnedVersions } from './paths.ts';
import type { PinnedVersions } from './paths.ts';

export interface PulumiTools {
  readonly version: string;
  /** The CLI; its folder's parent is the Automation API's `PulumiCommand` root. */
  readonly pulumi: string;
  /** The Kubernetes resource provider, found by the engine on PATH (an ambient plugin). */
  readonly kubernetesProvider: string;
  readonly kubernetesProviderVersion: string;
}

export function pulumiTools(versions: PinnedVersions = pinnedVersions()): PulumiTools {
  const tools = join(cacheDir(), 'tools');
  const version = pin(versions, 'PULUMI_VERSION');
  const kubernetesProviderVersion = pin(versions, 'PULUMI_KUBERNETES_VERSION');
  return {
    version,
    pulumi: join(tools, `pulumi-${version}`, 'bin', 'pulumi'),
    kubernetesProvider: join(tools, `pulumi-kubernetes-${kubernetesProviderVersion}`, 'bin', 'pulumi-resource-kubernetes'),
    kubernetesProviderVersion,
  };
}

/** Throws naming what is missing and how to get it. */
export function assertPulumiPresent(tools: PulumiTools = pulumiTools()): void {
  const missing = [tools.pulumi, tools.kubernetesProvider].filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`missing Pulumi tools: ${missing.join(', ')}. Run 'scripts/tools.sh pulumi' first (cold: ~10 min on 2 cores).`);
}

export interface LocalStackOptions {
  readonly projectName: string;
  readonly stackName: string;
  readonly program: pulumi.automation.PulumiFn;
  /** Holds the file backend, PULUMI_HOME and the passphrase (e.g. .flotilla/pulumi). */
  readonly stateDir: string;
  readonly tools?: PulumiTools;
}

/** The stack of an inline program on the local file backend, created on first use. */
export async function localStack(opts: LocalStackOptions): Promise<pulumi.automation.Stack> {
  const tools = opts.tools ?? pulumiTools();
  assertPulumiPresent(tools);
  const backend = join(opts.stateDir, 'backend');
  const home = join(opts.stateDir, 'home');
  mkdirSync(backend, { recursive: true });
  mkdirSync(home, { recursive: true });
  const passphraseFile = join(opts.stateDir, 'passphrase');
  if (!existsSync(passphraseFile)) writeFileSync(passphraseFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const pulumiCommand = await pulumi.automation.PulumiCommand.get({ root: dirname(dirname(tools.pulumi)) });
  return pulumi.automation.LocalWorkspace.createOrSelectStack(
    { projectName: opts.projectName, stackName: opts.stackName, program: opts.program },
    {
      pulumiCommand,
      pulumiHome: home,
      projectSettings: { name: opts.projectName, runtime: 'nodejs', backend: { url: `file://${backend}` } },
      secretsProvider: 'passphrase',
      envVars: {
        PULUMI_CONFIG_PASSPHRASE: readFileSync(passphraseFile, 'utf8'),
        PULUMI_SKIP_UPDATE_CHECK: 'true',
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: 'true',
        // The provider plugin is ambient: first on PATH, so the engine never tries to download one.
        PATH: [dirname(tools.kubernetesProvider), process.env.PATH ?? ''].join(delimiter),
      },
    },
  );
}
