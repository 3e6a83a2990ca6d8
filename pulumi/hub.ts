// FlotillaHub: the hub chart (CRDs, operator, its RBAC, webhooks and their TLS, metrics Service) as one
// Pulumi component. Chart values pass through `values`.
import { join } from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { chartsDir } from './charts.ts';

export interface FlotillaHubArgs {
  /** Namespace of the operator, its Lease and the providers' kubeconfig Secrets. */
  readonly namespace?: string;
  /** The only Secrets the operator may read: the providers' kubeconfig Secrets, by name. */
  readonly providerSecretNames?: pulumi.Input<pulumi.Input<string>[]>;
  /** Further chart values (charts/flotilla/values.yaml), merged under providerSecretNames. */
  readonly values?: pulumi.Inputs;
  /** Where charts/flotilla is; defaults to this repository's. */
  readonly chartPath?: string;
}

export class FlotillaHub extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: FlotillaHubArgs, opts?: pulumi.ComponentResourceOptions) {
    super('flotilla:index:FlotillaHub', name, {}, opts);
    const namespace = args.namespace ?? 'flotilla-system';
    this.release = new k8s.helm.v3.Release(
      name,
      {
        chart: args.chartPath ?? join(chartsDir, 'flotilla'),
        namespace,
        createNamespace: true,
        values: { ...args.values, providerSecretNames: args.providerSecretNames ?? [] },
      },
      { parent: this },
    );
    this.namespace = this.release.status.namespace;
    this.registerOutputs({ namespace: this.namespace });
  }
}
