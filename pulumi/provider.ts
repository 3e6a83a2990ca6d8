// FlotillaProvider: onboards one provider.
//
//   provider cluster                                   hub
//   helm: charts/flotilla-provider ──▶ token Secret ──▶ kubeconfig Secret (token + CA + server)
//                                                       GPUProvider (refers to that Secret)
import { join } from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { API_VERSION, GPUPROVIDER } from '../operator/api/group.ts';
import { chartsDir } from './charts.ts';
import { currentServer, providerKubeconfig } from './kubeconfig.ts';

export interface FlotillaProviderArgs {
  /** The GPUProvider's name in the hub. */
  readonly providerName: string;
  /** An admin kubeconfig of the provider cluster, used only to install the chart and read its token. */
  readonly kubeconfig: pulumi.Input<string>;
  /** The API server address the hub reaches the provider at; defaults to the kubeconfig's. */
  readonly server?: pulumi.Input<string>;
  /** The hub cluster's Pulumi provider. */
  readonly hub: k8s.Provider;
  /** Where the hub keeps provider kubeconfigs (the operator's namespace). */
  readonly hubNamespace?: string;
  readonly namespace?: string;
  readonly serviceAccountName?: string;
  readonly priorityClassName?: string;
  readonly priorityValue?: number;
  /** The chart's GPU quota, and the GPUProvider's spec.maxGpus: the hub never places more than the quota admits. */
  readonly lentGpus: number;
  readonly region: string;
  readonly payoutAddress: string;
  /** GPU product -> price per GPU-hour (decimal string). */
  readonly prices: Readonly<Record<string, string>>;
  /**
   * Further chart values (charts/flotilla-provider/values.yaml): the lent namespace's isolation, e.g.
   * `{ networkPolicy: { ipfs: { cidrs: ['10.0.0.5/32'], ports: [8080, 5001] } } }`. The values this
   * component sets itself (namespace, serviceAccount, priorityClass, lentGpus, provider) win.
   */
  readonly values?: pulumi.Inputs;
  readonly chartPath?: string;
  /** The hub must serve the GPUProvider CRD first: pass the FlotillaHub here. */
  readonly hubDependsOn?: pulumi.Input<pulumi.Resource>[];
}

export const kubeconfigSecretName = (providerName: string) => `provider-${providerName}-kubeconfig`;

export class FlotillaProvider extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  readonly kubeconfigSecret: k8s.core.v1.Secret;
  readonly gpuProvider: k8s.apiextensions.CustomResource;
  readonly kubeconfigSecretName: string;

  constructor(name: string, args: FlotillaProviderArgs, opts?: pulumi.ComponentResourceOptions) {
    super('flotilla:index:FlotillaProvider', name, {}, opts);
    const namespace = args.namespace ?? 'flotilla-workloads';
    const serviceAccount = args.serviceAccountName ?? 'flotilla-hub';
    const priorityClassName = args.priorityClassName ?? 'flotilla-lent';
    const hubNamespace = args.hubNamespace ?? 'flotilla-system';
    this.kubeconfigSecretName = kubeconfigSecretName(args.providerName);

    const cluster = new k8s.Provider(`${name}-cluster`, { kubeconfig: args.kubeconfig }, { parent: this });
    this.release = new k8s.helm.v3.Release(
      `${name}-chart`,
      {
        chart: args.chartPath ?? join(chartsDir, 'flotilla-provider'),
        // The release record lives in `default`; the chart creates (and on uninstall removes) its namespace.
        namespace: 'default',
        values: {
          ...args.values,
          namespace: { name: namespace, create: true },
          serviceAccount: { name: serviceAccount },
          priorityClass: { name: priorityClassName, create: true, value: args.priorityValue ?? -100 },
          lentGpus: args.lentGpus,
          provider: { name: args.providerName, region: args.region, payoutAddress: args.payoutAddress, prices: args.prices },
        },
      },
      { parent: this, provider: cluster },
    );

    // Filled by the provider's token controller; the release waits for its resources first.
    const token = k8s.core.v1.Secret.get(`${name}-token`, `${namespace}/${serviceAccount}-token`, {
      parent: this,
      provider: cluster,
      dependsOn: [this.release],
    });
    const server = args.server ?? pulumi.output(args.kubeconfig).apply(currentServer);
    const kubeconfig = pulumi.secret(
      pulumi.all([token.data, server]).apply(([data, srv]) => {
        const tokenB64 = data?.token;
        const caData = data?.['ca.crt'];
        if (!tokenB64 || !caData)
          throw new Error(`Secret ${namespace}/${serviceAccount}-token has no token yet: run again once the token controller filled it`);
        return providerKubeconfig({ server: srv, caData, token: Buffer.from(tokenB64, 'base64').toString('utf8'), namespace });
      }),
    );

    this.kubeconfigSecret = new k8s.core.v1.Secret(
      `${name}-kubeconfig`,
      {
        metadata: { name: this.kubeconfigSecretName, namespace: hubNamespace },
        type: 'Opaque',
        stringData: { kubeconfig },
      },
      { parent: this, provider: args.hub, dependsOn: args.hubDependsOn ?? [] },
    );

    this.gpuProvider = new k8s.apiextensions.CustomResource(
      `${name}-gpuprovider`,
      {
        apiVersion: API_VERSION,
        kind: GPUPROVIDER.kind,
        metadata: { name: args.providerName },
        spec: {
          kubeconfigSecretRef: { name: this.kubeconfigSecretName, namespace: hubNamespace, key: 'kubeconfig' },
          namespace,
          region: args.region,
          payoutAddress: args.payoutAddress,
          prices: Object.entries(args.prices).map(([gpuProduct, pricePerGpuHour]) => ({ gpuProduct, pricePerGpuHour })),
          priorityClassName,
          // The same number as the chart's ResourceQuota: placement beyond it would only meet "exceeded quota".
          maxGpus: args.lentGpus,
        },
      },
      { parent: this, provider: args.hub, dependsOn: [this.kubeconfigSecret, ...(args.hubDependsOn ?? [])] },
    );

    this.registerOutputs({ kubeconfigSecretName: this.kubeconfigSecretName });
  }
}
