// The artifacts adapters against the federation's real Kubo pair: content added at the provider's
// node is pinned on the hub's (the blocks travel over bitswap), idempotently, through the bounded
// pinner; what Kubo says when a CID cannot be found or the node is down; the inputs fetch script
// against the hub's real gateway; `flotilla add`; receipt verification.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../federation/command.ts';
import { freePort } from '../../federation/daemon.ts';
import { FETCH_SCRIPT } from '../../operator/artifacts/input-fetch.ts';
import { KuboError, KuboNode } from '../../operator/artifacts/kubo.ts';
import { Pinner } from '../../operator/artifacts/pinner.ts';
import { buildReceipt, receiptDocument, signReceipt } from '../../operator/artifacts/receipt.ts';
import type { Receipt } from '../../operator/artifacts/receipt.ts';
import { verifyReceipt } from '../../operator/artifacts/verify.ts';
import { Wallet } from 'ethers';
import type { AIJob } from '../../operator/api/types.ts';
import { federation } from '../support/federation.ts';
import { flotilla, hubKubo, providerKubo, receiptWallet, recursivePinList, tempDir, unfetchableCid } from './support.ts';

const unique = (what: string) => `${what} ${process.pid} ${Date.now()} ${Math.random()}`;

describe('pinning on the hub what the provider added', () => {
  it('pulls the blocks from the provider Kubo, pins once however often asked, and serves them offline', async () => {
    const hub = hubKubo();
    const text = unique('output of a provider');
    const cid = await providerKubo().addBytes(text);
    expect(await hub.isPinned(cid)).toBe(false);
    // Not on the hub yet: a local-only read fails.
    await expect(hub.cat(cid, { offline: true })).rejects.toThrow(/not found locally/);

    const pinner = new Pinner(hub, { concurrency: 2, timeoutMs: 30_000 });
    await Promise.all([pinner.pin(cid), pinner.pin(cid), pinner.pin(cid)]);
    await pinner.pin(cid);
    expect(pinner.requests).toBe(2); // three joined one request; the fourth asked again, and Kubo kept one pin
    expect(await hub.isPinned(cid)).toBe(true);
    expect((await recursivePinList(hub.api)).filter((c) => c === cid)).toHaveLength(1);
    expect(Buffer.from(await hub.cat(cid, { offline: true })).toString()).toBe(text);
  });

  it('keeps at most `concurrency` pins open against the real node', async () => {
    const cids = await Promise.all(Array.from({ length: 8 }, (_, i) => providerKubo().addBytes(unique(`batch ${i}`))));
    const pinner = new Pinner(hubKubo(), { concurrency: 3, timeoutMs: 30_000 });
    await Promise.all(cids.map((c) => pinner.pin(c)));
    expect(pinner.peakConcurrency).toBe(3);
    const pins = new Set(await recursivePinList(federation().kubo.hub.api));
    expect(cids.every((c) => pins.has(c))).toBe(true);
  });

  it('reports a CID nobody provides as a timeout, not a hang', async () => {
    const missing = await unfetchableCid();
    const started = Date.now();
    const err = await hubKubo()
      .pin(missing, { timeoutMs: 2_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(KuboError);
    expect((err as KuboError).kind).toBe('timeout');
    expect((err as KuboError).message).toMatch(/timed out after 2s/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('reports a node that is not listening as unreachable', async () => {
    const dead = new KuboNode(`http://127.0.0.1:${await freePort()}`);
    const err = await dead.pin('bafkreiallovn3lwtw6i52bfxwe2gjba7fwzr5kaewbrm34g5tmbrxnbph4', { timeoutMs: 2_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as KuboError).kind).toBe('unreachable');
    expect((err as KuboError).message).toMatch(/is unreachable \(ECONNREFUSED\)/);
  });
});

describe('flotilla add and the inputs fetch step', () => {
  it('adds a folder and a file, prints CIDs the hub pins, and the fetch script rebuilds them from the gateway', async () => {
    const dir = tempDir('flotilla-add-');
    try {
      const src = join(dir.path, 'dataset');
      mkdirSync(join(src, 'shards'), { recursive: true });
      writeFileSync(join(src, 'shards', 'a.txt'), unique('shard a'));
      writeFileSync(join(src, '.meta'), 'hidden files travel too');
      writeFileSync(join(dir.path, 'train.py'), unique('print("train")'));

      const folder = await flotilla(['add', src, '--kubo', federation().kubo.hub.api]);
      expect(folder.stderr).toBe('');
      expect(folder.code).toBe(0);
      const folderCid = folder.stdout.trim();
      expect(folderCid).toMatch(/^bafy[a-z2-7]+$/);
      // Without --kubo: $FLOTILLA_KUBO_API.
      const file = await flotilla(['add', join(dir.path, 'train.py')], { FLOTILLA_KUBO_API: federation().kubo.hub.api });
      const fileCid = file.stdout.trim();
      expect(fileCid).toMatch(/^bafk[a-z2-7]+$/);
      expect(await hubKubo().isPinned(folderCid)).toBe(true);
      expect(await hubKubo().isPinned(fileCid)).toBe(true);

      // The init container's script, run for real against the hub's gateway.
      const fetchRoot = join(dir.path, 'fetch');
      mkdirSync(join(fetchRoot, '0'), { recursive: true });
      mkdirSync(join(fetchRoot, '1'), { recursive: true });
      const script = FETCH_SCRIPT.replaceAll('/flotilla/fetch', fetchRoot);
      await runCommand('sh', ['-c', script, 'fetch-inputs', federation().kubo.hub.gateway, folderCid, fileCid]);
      expect(readFileSync(join(fetchRoot, '0', folderCid, 'shards', 'a.txt'), 'utf8')).toBe(readFileSync(join(src, 'shards', 'a.txt'), 'utf8'));
      expect(existsSync(join(fetchRoot, '0', folderCid, '.meta'))).toBe(true);
      expect(readFileSync(join(fetchRoot, '1', fileCid), 'utf8')).toBe(readFileSync(join(dir.path, 'train.py'), 'utf8'));
    } finally {
      dir.remove();
    }
  });

  it('fails with the reason on a path that does not exist', async () => {
    const r = await flotilla(['add', '/nonexistent/input', '--kubo', federation().kubo.hub.api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/input does not exist/);
  });
});

describe('receipt verification on the real hub Kubo', () => {
  const signer = receiptWallet();

  async function publishedReceipt(
    edit: (r: Receipt) => Receipt = (r) => r,
    key: Wallet | ReturnType<typeof receiptWallet> = signer,
  ): Promise<{ cid: string; output: string }> {
    const output = await hubKubo().addBytes(unique('job output'));
    const job = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'AIJob',
      metadata: { namespace: 't', name: 'verify', uid: 'u-1' },
      spec: {
        image: 'img@sha256:' + 'c'.repeat(64),
        replicas: 1,
        resources: { gpus: 1 },
        output: { path: '/o', pin: true },
        recovery: { maxRestarts: 3, strategy: 'Failover' },
      },
      status: { phase: 'Succeeded', outputCID: output, attempts: [{ index: 1, provider: 'provider-b', gpuSeconds: 9, reason: 'Succeeded' }] },
    } as AIJob;
    const signed = await signReceipt(edit(buildReceipt(job)), key);
    return { cid: await hubKubo().addBytes(receiptDocument(signed)), output };
  }

  it('accepts a receipt signed by the operator whose content is pinned, and `flotilla receipt` says VALID', async () => {
    const { cid } = await publishedReceipt();
    const v = await verifyReceipt(hubKubo(), cid, { signer: signer.address });
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    const cli = await flotilla(['receipt', cid, '--kubo', federation().kubo.hub.api, '--signer', signer.address]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`^receipt ${cid}: VALID`));
  });

  it('refuses a receipt signed by another key, exiting 1', async () => {
    const { cid } = await publishedReceipt((r) => r, Wallet.createRandom());
    const cli = await flotilla(['receipt', cid, '--kubo', federation().kubo.hub.api, '--signer', signer.address]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/INVALID/);
    expect(cli.stdout).toMatch(new RegExp(`not the operator ${signer.address}`));
  });

  it('refuses a receipt whose output is no longer pinned', async () => {
    const { cid, output } = await publishedReceipt();
    await hubKubo().unpin(output);
    const v = await verifyReceipt(hubKubo(), cid, { signer: signer.address });
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([`outputCID ${output} is not pinned on ${federation().kubo.hub.api}`]);
  });

  it('refuses a CID that is not a receipt', async () => {
    const notReceipt = await hubKubo().addBytes('{"hello": "world"}');
    const v = await verifyReceipt(hubKubo(), notReceipt, { signer: signer.address });
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatch(/not a Flotilla receipt/);
  });
});
