// Pulumi's mocks as the components' tests use them: every registration (and read) recorded as the
// engine would receive it, its state its inputs — a helm Release also reports the status the
// components read (name, namespace).
import * as pulumi from '@pulumi/pulumi';

export interface Declared {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  provider?: string;
  id?: string;
}

/** Installs the mocks; the returned list fills as resources are declared. */
export async function recordingMocks(): Promise<Declared[]> {
  const declared: Declared[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        declared.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          ...(args.provider ? { provider: args.provider } : {}),
          ...(args.id ? { id: args.id } : {}),
        });
        const state =
          args.type === 'kubernetes:helm.sh/v3:Release'
            ? { ...args.inputs, status: { name: args.inputs.name, namespace: args.inputs.namespace } }
            : args.inputs;
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    'flotilla',
    'test',
    false,
  );
  return declared;
}
