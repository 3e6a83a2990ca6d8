// Reads the hub Secrets a job references (secret-copies.ts) from the job's namespace, one GET each,
// only when an attempt's pods are about to be created: the operator neither lists nor watches
// Secrets, so it never holds more of them than a starting attempt needs.
//
//   404   the Secret is absent from the result; copyPayload() ends the job naming the field
//   403   the operator may not read Secrets there (the hub chart's secretCopies values decide
//         where it may: docs/security.md): ends the job naming the field — retrying cannot help
//   else  thrown: the work queue retries with back-off
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { AIJobSpec } from '../../api/types.ts';
import { TerminalSpecError } from '../../core/terminal-error.ts';
import { referencedSecrets } from './secret-copies.ts';

export async function readSecretSources(
  core: Pick<CoreV1Api, 'readNamespacedSecret'>,
  namespace: string,
  spec: Pick<AIJobSpec, 'env' | 'imagePullSecrets'>,
): Promise<Map<string, V1Secret>> {
  const out = new Map<string, V1Secret>();
  for (const { name, field } of referencedSecrets(spec)) {
    try {
      out.set(name, await core.readNamespacedSecret({ name, namespace }));
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) continue;
      if (code === 403)
        throw new TerminalSpecError(
          field,
          `${field}: the operator may not read Secret ${name} in namespace ${namespace} (the hub chart's secretCopies values grant it per namespace)`,
        );
      throw err;
    }
  }
  return out;
}
