// The hub's Kubo stops while a job runs: the operator keeps going, says why the output is not
// pinned, and once Kubo is back the job finishes with exactly one pin of its output. The Kubo here
// is the test's own daemon (own repo and ports, peered with the federation's provider Kubo), so
// stopping it touches nothing shared.
import * as yaml from 'js-yaml';
import { runCommand } from '../../federation/command.ts';
import { toolPaths } from '../../federation/paths.ts';
import { verifyReceipt } from '../../operator/artifacts/verify.ts';
import type { AIJob } from '../../operator/api/types.ts';
import { clusterClients, createNamespace, deleteNamespace, federation, waitForAIJob } from '../support/federation.ts';
import { aijobManifest } from '../support/aijob.ts';
import { startOperator } from '../support/operator.ts';
import type { OperatorProcess } from '../support/operator.ts';
import { PrivateKubo, receiptWallet, recursivePinList } from './support.ts';

const hub = clusterClients('hub');
const signer = receiptWallet();
const kubo = new PrivateKubo();
let ns = '';
let operator: OperatorProcess;
/** What a fresh repo pins by itself (Kubo's empty folder). */
let baseline: string[] = [];

beforeAll(async () => {
  await kubo.init();
  await kubo.start();
  baseline = await recursivePinList(kubo.api);
  ns = await createNamespace(hub.core, 't-kubo-outage');
  operator = startOperator(ns, {
    FLOTILLA_KUBO_API: kubo.api,
    FLOTILLA_RECEIPT_KEY: signer.privateKey,
    FLOTILLA_PIN_TIMEOUT_MS: '10000',
    FLOTILLA_HTTP_PORT: 'off',
  });
});
afterAll(async () => {
  await operator.stop();
  await deleteNamespace(hub.core, ns);
  await kubo.remove();
});

const pinned = (job: AIJob | undefined) => job?.status?.conditions?.find((c) => c.type === 'OutputPinned');

it('finishes the job once Kubo is back, with exactly one pin of its output', async () => {
  await runCommand(toolPaths().kubectl, ['--kubeconfig', federation().hub.kubeconfig, 'apply', '-f', '-'], {
    input: yaml.dump(aijobManifest({ name: 'outage', namespace: ns, gpu: { products: ['NVIDIA-L4'] }, sim: { runSeconds: 3, output: 'outage test' } })),
  });
  await waitForAIJob(ns, 'outage', (j) => j?.status?.phase === 'Running', 90_000);
  await kubo.stop();

  // The replica completes at the provider (whose Kubo is up); the hub's is down: no pin, and the condition says why.
  const stuck = (await waitForAIJob(ns, 'outage', (j) => pinned(j)?.reason === 'PinFailed', 90_000)) as AIJob;
  const output = stuck.status?.outputCID ?? '';
  expect(pinned(stuck)?.message).toMatch(new RegExp(`^pinning ${output}: the IPFS node at ${kubo.api} is unreachable \\(ECONNREFUSED\\); retrying$`));
  expect(stuck.status?.phase).toBe('Running');
  const before = operator.logs();
  expect(before).not.toMatch(/"level":"error"/);

  await kubo.start();
  const done = (await waitForAIJob(ns, 'outage', (j) => j?.status?.phase === 'Succeeded' && Boolean(j.status.receiptCID), 120_000)) as AIJob;
  expect(pinned(done)).toMatchObject({ status: 'True', reason: 'Pinned' });
  // Exactly the output and the receipt were pinned on this node, each once.
  expect((await recursivePinList(kubo.api)).sort()).toEqual([...baseline, output, done.status?.receiptCID].sort());
  expect(Buffer.from(await kubo.node.cat(output, { offline: true })).toString()).toMatch(/outage test/);
  expect((await verifyReceipt(kubo.node, done.status?.receiptCID ?? '', { signer: signer.address })).problems).toEqual([]);
});
