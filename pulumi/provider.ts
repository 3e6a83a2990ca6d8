// FlotillaProvider: onboards one provider in one `pulumi up`.
//
//   provider cluster                                   hub
//   GPU pools (capacity) ─▶ helm: charts/flotilla-provider ─▶ token Secret ─▶ kubeconfig Secret (token + CA + server)
//                                                                           GPUProvider (refers to that Secret)
//
// Given its GPU pools (`capacity`), it lends what they hold at their prices and installs the chart
// only once they are provisioned. `pulumi destroy` deletes in reverse: the GPUProvider first, so the
// hub stops placing there before anything at the provider goes.
import { join } from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { API_VERSION, GPUPROVIDER } from '../operator/api/group.ts';
import type { GpuCapacity } from './capacity.ts';
import { lentFromCapacity } from './capacity.ts';
import { chartsDir } from './charts.ts';
import { currentServer, providerKubeconfig } from './kubeconfig.ts';
import { waitForServiceAccountToken } from './token.ts';

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
  /**
   * The GPU pools this provider lends (KwokGpuNodePool, EksGpuNodePool, GkeGpuNodePool, …): `lentGpus`
   * and `prices` default to what they hold, and the chart waits until they are provisioned.
   */
  readonly capacity?: readonly GpuCapacity[];
  /** The chart's GPU quota, and the GPUProvider's spec.maxGpus: the hub never places more than the quota admits. Defaults to the pools' GPUs. */
  readonly lentGpus?: number;
  readonly region: string;
  readonly payoutAddress: string;
  /** GPU product -> price per GPU-hour (decimal string). Defaults to the pools' prices. */
  readonly prices?: Readonly<Record<string, string>>;
  /** How long to wait for the provider's token controller to fill the chart's token Secret (default 120). */
  readonly tokenTimeoutSeconds?: number;
  /**
   * The hub's credential when the provider issues it some other way (e.g. a TokenRequest with an
   * expiry): the chart's token Secret is then not read at all.
   */
  readonly token?: pulumi.Input<{ readonly token: string; readonly caData: string }>;
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
    const pools = args.capacity ?? [];
    const fromPools = lentFromCapacity(pools);
    const lentGpus = args.lentGpus ?? (pools.length > 0 ? fromPools.lentGpus : undefined);
    const prices = args.prices ?? (pools.length > 0 ? fromPools.prices : undefined);
    if (lentGpus === undefined || prices === undefined) throw new Error(`FlotillaProvider ${name}: give capacity (GPU pools), or lentGpus and prices`);

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
          lentGpus,
          provider: { name: args.providerName, region: args.region, payoutAddress: args.payoutAddress, prices },
        },
      },
      { parent: this, provider: cluster, dependsOn: pools.flatMap((p) => p.ready) },
    );

    // The chart creates the token Secret; the provider's token controller fills it a moment later.
    // Reading it waits for that, so that the first `up` onboards (no second run needed). The read
    // is a plain API call rather than a Pulumi read resource: it runs again on every `up` (the
    // token is what the cluster holds now) and leaves nothing in the stack's state.
    const tokenSecret = `${serviceAccount}-token`;
    const server = args.server ?? pulumi.output(args.kubeconfig).apply(currentServer);
    const kubeconfig = pulumi.secret(
      pulumi.all([this.release.status, args.kubeconfig, server, args.token]).apply(async ([, adminKubeconfig, srv, given]) => {
        const { token, caData } =
          given ?? (await waitForServiceAccountToken(adminKubeconfig, namespace, tokenSecret, { timeoutMs: (args.tokenTimeoutSeconds ?? 120) * 1000 }));
        return providerKubeconfig({ server: srv, caData, token, namespace });
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
          prices: Object.entries(prices).map(([gpuProduct, pricePerGpuHour]) => ({ gpuProduct, pricePerGpuHour })),
          priorityClassName,
          // The same number as the chart's ResourceQuota: placement beyond it would only meet "exceeded quota".
          maxGpus: lentGpus,
        },
      },
      { parent: this, provider: args.hub, dependsOn: [this.kubeconfigSecret, ...(args.hubDependsOn ?? [])] },
    );

    this.registerOutputs({ kubeconfigSecretName: this.kubeconfigSecretName, lentGpus });
  }
}
