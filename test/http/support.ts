// Helpers of the HTTP, webhook, CLI and chart suites: free ports, a test CA and serving certificate,
// a small AIJob that the local federation's simulated executor runs, and namespace tenants (a
// ServiceAccount bound to a built-in role, with a minted token).
import { webcrypto } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { join } from 'node:path';
import { repoRoot } from '../../federation/paths.ts';
import { AIJOB, GROUP, VERSION } from '../../operator/api/group.ts';
import type { AIJobManifest } from '../../operator/api/types.ts';
import { aijobManifest } from '../support/aijob.ts';
import { canI, helm, kubectl } from '../charts/helm.ts';

// Ports for the operators and servers the suites start: several in one call are always different.
export { freePort, freePorts } from '../../federation/daemon.ts';

export interface TestPki {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END ${label}-----\n`;

/** A throwaway CA and a serving certificate for 127.0.0.1 signed by it (ECDSA P-256, one day). */
export async function makeTestPki(): Promise<TestPki> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=flotilla test CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { caPem: ca.toString('pem') + '\n', certPem: cert.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', pkcs8) };
}

/** One L4 replica the simulated executor runs for `seconds`. */
export function smallJob(name: string, namespace: string, seconds: number, extra: Partial<AIJobManifest['spec']> = {}): AIJobManifest {
  return aijobManifest({ name, namespace, gpu: { products: ['NVIDIA-L4'] }, sim: { runSeconds: seconds, output: `${name} done` }, ...extra });
}

/** Creates `manifest` on the hub, with `annotations` added; resolves to the object as admitted (the webhooks' work included). */
export function createAIJob<T = unknown>(custom: CustomObjectsApi, manifest: AIJobManifest, annotations?: Record<string, string>): Promise<T> {
  return custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: AIJOB.plural,
    namespace: manifest.metadata.namespace ?? 'default',
    body: { ...manifest, metadata: { ...manifest.metadata, ...(annotations ? { annotations: { ...manifest.metadata.annotations, ...annotations } } : {}) } },
  }) as Promise<T>;
}

export async function getJson(url: string): Promise<{ status: number; body: unknown; text: string }> {
  return getJsonAs(url, undefined);
}

/** A tenant as the apiserver sees one: a ServiceAccount of `namespace` bound there to a built-in ClusterRole. */
export interface Tenant {
  readonly username: string;
  readonly token: string;
  /** A kubeconfig of the hub authenticating with the token only. */
  readonly kc: KubeConfig;
}

/**
 * Creates ServiceAccount `name` in `namespace`, a RoleBinding of the built-in ClusterRole `role`
 * (edit, view) to it in `bindIn` (default: its own namespace), and mints a token for it with the
 * TokenRequest API.
 */
export async function namespaceTenant(hubKc: KubeConfig, namespace: string, name: string, role: 'edit' | 'view', bindIn = namespace): Promise<Tenant> {
  const core = hubKc.makeApiClient(CoreV1Api);
  const rbac = hubKc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await rbac.createNamespacedRoleBinding({
    namespace: bindIn,
    body: {
      metadata: { name: `${name}-${role}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
  const token =
    (await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status?.token ?? '';
  const cluster = hubKc.getCurrentCluster();
  if (!cluster || !token) throw new Error('no hub cluster in the kubeconfig, or no token minted');
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [cluster], users: [{ name, token }], contexts: [{ name, cluster: cluster.name, user: name }], currentContext: name });
  return { username: `system:serviceaccount:${namespace}:${name}`, token, kc };
}

/** GET with a bearer token (none: no Authorization header). */
export async function getJsonAs(url: string, token: string | undefined): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/**
 * The hub chart's tenant roles (templates/tenant-roles.yaml, rendered by the real helm) on the hub,
 * so the built-in edit and view cover AIJobs. Roles a Helm release already owns are used as they
 * are; otherwise they are applied here, and the returned function deletes them again.
 */
export async function applyTenantRoles(kubeconfig: string): Promise<() => Promise<void>> {
  const owner = await kubectl(kubeconfig, [
    'get',
    'clusterrole',
    'flotilla-edit',
    '--ignore-not-found',
    '-o',
    'jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}',
  ]);
  if (owner.trim() !== '') return async () => undefined;
  const rendered = await helm(['template', 'tenant-roles', join(repoRoot, 'charts', 'flotilla'), '--show-only', 'templates/tenant-roles.yaml']);
  await kubectl(kubeconfig, ['apply', '-f', '-'], rendered);
  return async () => {
    await kubectl(kubeconfig, ['delete', '--ignore-not-found', '-f', '-'], rendered);
  };
}

/** Until the clusterrole-aggregation controller has given `who` the verb on AIJobs in `namespace`. */
export async function waitForAggregation(kubeconfig: string, who: string, verb: string, namespace: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await canI(kubeconfig, [verb, 'aijobs.flotilla.dev', '-n', namespace, `--as=${who}`]))) {
    if (Date.now() > deadline) throw new Error(`${who} still may not ${verb} aijobs in ${namespace}: the edit/view aggregation did not happen`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
