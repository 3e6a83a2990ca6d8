// The leader's side of the provider fence (core/fence.ts, chart templates/fence.yaml). Before its
// first create at a provider in this term the leader raises its token in that namespace's
// flotilla-fence ConfigMap, then proves the fence holds: a dry-run create stamped one token lower
// must come back refused by the provider's API server. From then on the previous leader's creates
// there are refused, whatever it still had in flight.
//
// A provider controls its API server and may answer anything, so a fence refusal is believed only
// after the hub's Lease confirms that this process lost it; otherwise the refusal is the provider's
// (its attempt is refused and placed elsewhere, like any other refusal) and nothing is stuck.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { LABEL_ATTEMPT, LABEL_HUB, LABEL_JOB_UID } from '../api/group.ts';
import { FENCE_CONFIGMAP, fenceAnnotations, isFenceRefusal } from '../core/fence.ts';
import type { FenceReport, FenceStamp, FenceState } from '../core/fence.ts';
import { errorMessage } from '../log.ts';
import type { Logger } from '../log.ts';
import { NotLeaderError, assertLeading } from '../runtime/lease-guard.ts';
export type { FenceState } from '../core/fence.ts';
import { refusal } from './refusal.ts';

export interface ProviderFencesOptions {
  readonly stamp: FenceStamp;
  /** Reads the hub's Lease: true while this process still holds it at the token it stamps with. */
  readonly confirmLeading: () => Promise<boolean>;
  readonly log: Logger;
  readonly now?: () => number;
  /** How long `absent`/`unverified` is believed before the next create looks again (default 60 s). */
  readonly recheckMs?: number;
  /** How long a probe waits for the API server's policy cache to see the raised token (default 3 s). */
  readonly probeWindowMs?: number;
  /** Told when a provider's fence settled (the GPUProvider controller writes its Fenced condition). */
  readonly onSettled?: (provider: string) => void;
}

interface Known {
  readonly state: Promise<FenceState>;
  readonly until: number;
}

const PROBE_NAME = 'flotilla-fence-probe';

interface Settled {
  readonly state: FenceState;
  readonly message?: string;
}

/** A provider's error as text, bounded (refusal() bounds 403s the same way). */
const bounded = (err: unknown) => errorMessage(err).slice(0, 512);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ProviderFences {
  readonly stamp: FenceStamp;
  private readonly known = new Map<string, Known>();
  private readonly reports = new Map<string, FenceReport>();
  private readonly now: () => number;
  private readonly opts: ProviderFencesOptions;

  constructor(opts: ProviderFencesOptions) {
    this.opts = opts;
    this.stamp = opts.stamp;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Raises this term's token at the provider once (concurrent callers share the request) and says
   * how the fence stands. Throws NotLeaderError when the provider refused the raise and the hub's
   * Lease confirms another leader; throws on a network error (nothing remembered: the next create
   * tries again).
   */
  ensure(provider: string, target: { readonly core: CoreV1Api; readonly namespace: string }): Promise<FenceState> {
    const id = `${provider}/${target.namespace}`;
    const known = this.known.get(id);
    if (known && known.until > this.now()) return known.state;
    const settled = this.raise(provider, target);
    const state = settled.then((s) => s.state);
    this.known.set(id, { state, until: Number.POSITIVE_INFINITY });
    settled.then(
      ({ state: s, message }) => {
        if (s === 'absent' || s === 'unverified') this.known.set(id, { state, until: this.now() + (this.opts.recheckMs ?? 60_000) });
        this.reports.set(provider, { state: s, namespace: target.namespace, epoch: this.stamp.epoch, ...(message !== undefined ? { message } : {}) });
        this.opts.onSettled?.(provider);
      },
      () => this.known.delete(id),
    );
    return state;
  }

  /** The provider's fence as last settled in this term; undefined before the first raise there settled. */
  report(provider: string): FenceReport | undefined {
    return this.reports.get(provider);
  }

  /**
   * A request to `provider` came back with the fence's refusal: throws NotLeaderError when the hub's
   * Lease confirms this process lost it; returns when it did not (the provider refused on its own).
   */
  async judgeRefusal(provider: string, message: string): Promise<void> {
    if (!(await this.opts.confirmLeading()))
      throw new NotLeaderError(`deposed: ${provider} answered with the fence's refusal and the hub's Lease names another leader (${message})`);
    this.opts.log('warn', "a provider answered with the fence's refusal while this process holds the lease", {
      provider,
      message,
      fenceKey: this.stamp.key,
      epoch: this.stamp.epoch,
    });
  }

  /** The raise and its proof; `message` says why, for `unverified` (the provider's words, bounded). */
  private async raise(provider: string, target: { readonly core: CoreV1Api; readonly namespace: string }): Promise<Settled> {
    const { key, epoch } = this.stamp;
    assertLeading(`raise the fence at ${provider}`);
    try {
      await target.core.patchNamespacedConfigMap(
        { name: FENCE_CONFIGMAP, namespace: target.namespace, body: { data: { [key]: String(epoch) } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if ((err as { code?: number }).code === 404) {
        this.opts.log('warn', 'provider has no fence: a deposed leader is held back there by its own lease guard only', {
          provider,
          namespace: target.namespace,
          configMap: FENCE_CONFIGMAP,
        });
        return { state: 'absent' };
      }
      const refused = refusal(err);
      if (isFenceRefusal(refused)) {
        await this.judgeRefusal(provider, refused ?? '');
        return { state: 'unverified', message: refused ?? '' };
      }
      // Any other answer the provider gave (403, 422 — a ConfigMap whose values passed 1 MiB —, …)
      // is a fence that cannot be raised: reported, looked at again later; never a job stuck on it.
      // No answer (network) or a 5xx/429 throws: the next create tries again.
      const code = (err as { code?: number }).code;
      if (refused !== undefined || (code !== undefined && code >= 400 && code < 500 && code !== 429)) {
        const message = refused ?? bounded(err);
        this.opts.log('warn', 'provider refused raising the fence', { provider, message });
        return { state: 'unverified', message };
      }
      throw err;
    }
    const settled = await this.probe(provider, target);
    this.opts.log(settled.state === 'enforced' ? 'info' : 'warn', 'fence raised', {
      provider,
      namespace: target.namespace,
      fenceKey: key,
      epoch,
      state: settled.state,
    });
    return settled;
  }

  /** Dry-run creates stamped one token lower until the API server refuses them (its policy cache may lag the raise by a moment). */
  private async probe(provider: string, target: { readonly core: CoreV1Api; readonly namespace: string }): Promise<Settled> {
    const deadline = this.now() + (this.opts.probeWindowMs ?? 3_000);
    const body = probePod(target.namespace, { key: this.stamp.key, epoch: this.stamp.epoch - 1 });
    for (;;) {
      try {
        await target.core.createNamespacedPod({ namespace: target.namespace, body, dryRun: 'All' });
      } catch (err) {
        const refused = refusal(err);
        if (isFenceRefusal(refused)) return { state: 'enforced' };
        if (refused === undefined && (err as { code?: number }).code === undefined) throw err;
        const message = refused ?? bounded(err);
        this.opts.log('warn', 'could not verify the fence: the probe was refused for another reason', { provider, message });
        return { state: 'unverified', message };
      }
      if (this.now() >= deadline) return { state: 'unenforced' };
      await sleep(200);
    }
  }
}

/** A pod that is never created (dry run): labelled like the hub's objects so the fence's binding selects it. */
function probePod(namespace: string, stamp: FenceStamp): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: PROBE_NAME,
      namespace,
      labels: { [LABEL_JOB_UID]: PROBE_NAME, [LABEL_ATTEMPT]: '0', [LABEL_HUB]: PROBE_NAME, 'app.kubernetes.io/managed-by': 'flotilla' },
      annotations: fenceAnnotations(stamp),
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image: 'flotilla.invalid/fence-probe:0',
          resources: { requests: { cpu: '1m', memory: '1Mi' }, limits: { cpu: '1m', memory: '1Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}
