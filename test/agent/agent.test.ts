// The job agent (operator/agent/) as the pod runs it: real `node operator/agent/main.ts run|restore`
// processes against the federation's provider-side Kubo, with checkpoints written the ways trainers
// write them, and a local HTTP server standing in for the operator's report endpoint (it records
// each request; the receiving side itself is operator/controllers/aijob/checkpoint-report.ts).
//
//   - a checkpoint written atomically (tmp dir + rename) is added once, wrapped under its name, and
//     reported once with the body and token the operator expects; a 503 is retried, a 409 is not
//   - a checkpoint still being written is not reported until its files stop changing
//   - marker mode waits for the marker, however stable the files are
//   - SIGTERM adds the newest checkpoint and the output folder (hidden files too) and writes the
//     termination message the operator parses
//   - restore puts a reported checkpoint back byte for byte, and `run` afterwards does not report it again
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from 'kubo-rpc-client';
import { parseTerminationMessage, isCid } from '../../operator/core/lifecycle/report.ts';
import { PrivateKubo, tempDir } from '../artifacts/support.ts';
import { federation, pollUntil } from '../support/federation.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const AGENT = join(repoRoot, 'operator', 'agent', 'main.ts');
const POLL_MS = 300;
const TOKEN = 'report-token-of-this-attempt';
const JOB = { namespace: 'team-a', name: 'train-1', uid: '6a0c1f0e-3d3b-4c51-9a57-agent-test', attempt: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Recorded {
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** The stand-in report endpoint: records every POST, answers with the next queued status (else 204). */
class ReportReceiver {
  readonly requests: Recorded[] = [];
  readonly answers: number[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
        const status = this.answers.shift() ?? 204;
        res.writeHead(status, status === 204 ? {} : { 'content-type': 'application/json' }).end(status === 204 ? undefined : '{"error":"test answer"}');
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/checkpoints`;
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server.close(r));
  }

  cids(): string[] {
    return this.requests.map((r) => r.body.cid as string);
  }
}

interface AgentProcess {
  readonly exited: Promise<number | null>;
  logs(): string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no flush. */
  kill(): Promise<number | null>;
}

function startAgent(command: 'run' | 'restore', env: Record<string, string>): AgentProcess {
  const child = spawn(process.execPath, [AGENT, command], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '', FLOTILLA_IPFS_API: federation().kubo.provider.api, FLOTILLA_AGENT_POLL_MS: String(POLL_MS), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    exited,
    logs: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      return exited;
    },
  };
}

/** Every file under `root` (relative path → bytes). */
function filesUnder(root: string, rel = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(join(root, rel))) {
    const path = rel === '' ? name : `${rel}/${name}`;
    if (statSync(join(root, path)).isDirectory()) for (const [k, v] of filesUnder(root, path)) out.set(k, v);
    else out.set(path, readFileSync(join(root, path)));
  }
  return out;
}

/** A checkpoint folder the way most trainers write one: into a tmp name, then renamed into place. */
function writeAtomically(dir: string, name: string, files: Record<string, Buffer | string>): void {
  const tmp = join(dir, `tmp-${name}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(tmp, path)), { recursive: true });
    writeFileSync(join(tmp, path), content);
  }
  renameSync(tmp, join(dir, name));
}

const kubo = () => create({ url: federation().kubo.provider.api });

async function cat(path: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of kubo().cat(path, { timeout: 30_000 })) chunks.push(c);
  return Buffer.concat(chunks);
}

async function ls(cid: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of kubo().ls(cid, { timeout: 30_000 })) names.push(e.name);
  return names.sort();
}

let receiver: ReportReceiver;
let reportUrl = '';
let tmp: { path: string; remove: () => void };
const running: AgentProcess[] = [];

/** The environment of replica 0 of JOB, reporting to the receiver, with its folders under a fresh dir. */
function podEnv(extra: Record<string, string> = {}): { env: Record<string, string>; ckpt: string; out: string; term: string } {
  const root = join(tmp.path, randomBytes(4).toString('hex'));
  const ckpt = join(root, 'ckpt');
  const out = join(root, 'out');
  mkdirSync(ckpt, { recursive: true });
  mkdirSync(out, { recursive: true });
  const term = join(root, 'termination-log');
  return {
    ckpt,
    out,
    term,
    env: {
      FLOTILLA_CHECKPOINT_PATH: ckpt,
      FLOTILLA_OUTPUT_PATH: out,
      FLOTILLA_TERMINATION_LOG: term,
      FLOTILLA_REPORT_URL: reportUrl,
      FLOTILLA_REPORT_TOKEN: TOKEN,
      FLOTILLA_JOB_NAME: `${JOB.namespace}/${JOB.name}`,
      FLOTILLA_JOB_UID: JOB.uid,
      FLOTILLA_ATTEMPT: String(JOB.attempt),
      FLOTILLA_REPLICA: '0',
      ...extra,
    },
  };
}

function run(env: Record<string, string>): AgentProcess {
  const agent = startAgent('run', env);
  running.push(agent);
  return agent;
}

beforeAll(async () => {
  federation();
  tmp = tempDir('flotilla-agent-');
  receiver = new ReportReceiver();
  reportUrl = await receiver.start();
});

beforeEach(() => {
  receiver.requests.length = 0;
  receiver.answers.length = 0;
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await receiver?.stop();
  tmp?.remove();
});

describe('run', () => {
  it('adds a checkpoint renamed into place once, wrapped under its name, and reports it once with the body and token the operator expects', async () => {
    const pod = podEnv();
    const started = Date.now();
    run(pod.env);
    const weights = randomBytes(600_000); // several blocks
    writeAtomically(pod.ckpt, 'step-100', { 'model.bin': weights, 'optim/state.json': '{"lr":0.1}', '.rng': 'seed' });

    await pollUntil(
      'a checkpoint report',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    const [report] = receiver.requests;
    expect(report?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(report?.headers['content-type']).toBe('application/json');
    const body = report?.body ?? {};
    expect(body).toEqual({ ...JOB, cid: expect.any(String), time: expect.any(String) });
    expect(isCid(body.cid)).toBe(true);
    const time = Date.parse(body.time as string);
    expect(time).toBeGreaterThanOrEqual(started);
    expect(time).toBeLessThanOrEqual(Date.now());

    // Wrapped: the CID is a folder holding exactly the entry, under its own name, hidden files included.
    const cid = body.cid as string;
    expect(await ls(cid)).toEqual(['step-100']);
    expect(await ls(`${cid}/step-100`)).toEqual(['.rng', 'model.bin', 'optim']);
    expect((await cat(`${cid}/step-100/model.bin`)).equals(weights)).toBe(true);

    // Once: later polls see the same entry and neither add nor report it again.
    await sleep(6 * POLL_MS);
    expect(receiver.cids()).toEqual([cid]);
    expect(running[0]?.logs().match(/"msg":"checkpoint added"/g)).toHaveLength(1);
  });

  it('retries a report the operator answered 503 at the next poll, and drops one it answered 409', async () => {
    const pod = podEnv();
    receiver.answers.push(503, 204);
    run(pod.env);
    writeAtomically(pod.ckpt, 'step-1', { 'model.bin': randomBytes(1000) });
    await pollUntil(
      'the report, again after a 503',
      async () => receiver.requests.length,
      (n) => n >= 2,
      30_000,
    );
    const [first, second] = receiver.cids();
    expect(second).toBe(first);

    receiver.answers.push(409);
    writeAtomically(pod.ckpt, 'step-2', { 'model.bin': randomBytes(1000) });
    await pollUntil(
      'the report of step-2',
      async () => receiver.requests.length,
      (n) => n >= 3,
      30_000,
    );
    await sleep(6 * POLL_MS);
    expect(receiver.requests).toHaveLength(3);
    expect(receiver.cids()[2]).not.toBe(first);
  });

  it('does not report a checkpoint while its files are still changing, and reports it, whole, once they stop', async () => {
    // A poll ten times the write interval: the file looks still between two polls only if this
    // process stalls a whole second (a 300 ms poll was once fooled on a loaded 2-core machine).
    const pollMs = 1000;
    const pod = podEnv({ FLOTILLA_AGENT_POLL_MS: String(pollMs) });
    run(pod.env);
    const entry = join(pod.ckpt, 'step-7');
    mkdirSync(entry);
    const chunk = randomBytes(4096);
    // Written in place, a chunk every 100 ms for 4 s: four polls, none of which may find it stable.
    for (let i = 0; i < 40; i++) {
      appendFileSync(join(entry, 'model.bin'), chunk);
      await sleep(100);
    }
    expect(receiver.requests).toHaveLength(0);
    expect(running[0]?.logs()).not.toMatch(/"msg":"checkpoint added"/);

    await pollUntil(
      'the report once writing stopped',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    const cid = receiver.cids()[0] as string;
    expect(await cat(`${cid}/step-7/model.bin`)).toEqual(readFileSync(join(entry, 'model.bin')));
    expect((await cat(`${cid}/step-7/model.bin`)).length).toBe(40 * 4096);
  });

  it('with a marker, reports a folder only once the marker is in it, however long its files have been still', async () => {
    const pod = podEnv({ FLOTILLA_CHECKPOINT_MARKER: 'COMPLETE' });
    run(pod.env);
    mkdirSync(join(pod.ckpt, 'step-3'));
    writeFileSync(join(pod.ckpt, 'step-3', 'model.bin'), randomBytes(2000));
    writeFileSync(join(pod.ckpt, 'weights.pt'), 'a file entry never has a marker');
    await sleep(8 * POLL_MS);
    expect(receiver.requests).toHaveLength(0);

    writeFileSync(join(pod.ckpt, 'step-3', 'COMPLETE'), '');
    await pollUntil(
      'the report after the marker',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    expect(await ls(`${receiver.cids()[0]}`)).toEqual(['step-3']);
    expect(await ls(`${receiver.cids()[0]}/step-3`)).toEqual(['COMPLETE', 'model.bin']);
  });

  it('on SIGTERM adds the newest checkpoint and the output folder, reports, writes the termination message and exits 0', async () => {
    // A poll far longer than the test: only the flush can find anything complete.
    const pod = podEnv({ FLOTILLA_AGENT_POLL_MS: '600000' });
    const agent = run(pod.env);
    await pollUntil(
      'the agent to start',
      async () => agent.logs(),
      (l) => l.includes('"msg":"agent running"'),
      15_000,
    );
    writeAtomically(pod.ckpt, 'step-1', { 'model.bin': randomBytes(1000) });
    await sleep(50);
    const last = randomBytes(3000);
    writeAtomically(pod.ckpt, 'step-2', { 'model.bin': last });
    const result = randomBytes(300_000);
    mkdirSync(join(pod.out, 'metrics'));
    writeFileSync(join(pod.out, 'model.safetensors'), result);
    writeFileSync(join(pod.out, 'metrics', 'eval.json'), '{"loss":0.1}');
    writeFileSync(join(pod.out, '.done'), '');

    const stoppedAt = Date.now();
    expect(await agent.stop()).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(20_000);

    const message = readFileSync(pod.term, 'utf8');
    const parsed = parseTerminationMessage(message);
    expect(parsed.invalid).toBeUndefined();
    expect(Object.keys(JSON.parse(message) as object).sort()).toEqual(['checkpointCID', 'checkpointTime', 'outputCID']);
    const { outputCID, checkpointCID } = parsed as { outputCID: string; checkpointCID: string };
    expect(await ls(checkpointCID)).toEqual(['step-2']);
    expect((await cat(`${checkpointCID}/step-2/model.bin`)).equals(last)).toBe(true);
    // The output folder's own CID (not wrapped), everything in it.
    expect(await ls(outputCID)).toEqual(['.done', 'metrics', 'model.safetensors']);
    expect((await cat(`${outputCID}/model.safetensors`)).equals(result)).toBe(true);
    expect((await cat(`${outputCID}/metrics/eval.json`)).toString()).toBe('{"loss":0.1}');
    expect(receiver.cids()).toEqual([checkpointCID]);
    expect(Date.parse(receiver.requests[0]?.body.time as string)).toBe(parsed.checkpointTime);
  });

  it('restarted mid-attempt (a sidecar crash), does not add its checkpoint again, re-sends only the same report, and still names it when stopped', async () => {
    const pod = podEnv();
    const first = startAgent('run', pod.env);
    writeAtomically(pod.ckpt, 'step-1', { 'model.bin': randomBytes(1000) });
    await pollUntil(
      'the checkpoint report',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    const cid = receiver.cids()[0];
    await first.kill();

    // The real endpoint answers a report it already has 409: the restarted agent sends it at most once more.
    receiver.answers.push(409);
    const second = run(pod.env);
    await sleep(8 * POLL_MS);
    expect(second.logs().match(/"msg":"checkpoint added"/g)).toBeNull();
    expect(receiver.cids().length).toBeLessThanOrEqual(2);
    expect(new Set(receiver.requests.map((r) => JSON.stringify(r.body)))).toEqual(new Set([JSON.stringify(receiver.requests[0]?.body)]));
    expect(await second.stop()).toBe(0);
    expect(parseTerminationMessage(readFileSync(pod.term, 'utf8')).checkpointCID).toBe(cid);
  });

  it('on SIGTERM with nothing new and an empty output writes an empty termination message', async () => {
    const pod = podEnv();
    const agent = run(pod.env);
    await pollUntil(
      'the agent to start',
      async () => agent.logs(),
      (l) => l.includes('"msg":"agent running"'),
      15_000,
    );
    expect(await agent.stop()).toBe(0);
    expect(readFileSync(pod.term, 'utf8')).toBe('{}');
  });
});

describe("the provider's Kubo behind its own API credential", () => {
  // What a provider should run: a Kubo whose RPC API needs a credential, the agent's allowed only
  // to add and to read blocks. Lent pods share the network with the agent, so without one a job
  // could add, unpin or shut the node down itself.
  const AGENT_TOKEN = `agent-${randomBytes(8).toString('hex')}`;
  const guarded = new PrivateKubo({
    authorizations: { agent: { AuthSecret: `bearer:${AGENT_TOKEN}`, AllowedPaths: ['/api/v0/add', '/api/v0/block/get'] } },
  });
  beforeAll(async () => {
    await guarded.init();
    await guarded.start();
  }, 120_000);
  afterAll(() => guarded.remove());

  it('the agent adds and restores with the credential it is given; a job without it, or the agent beyond its paths, is refused', async () => {
    const pod = podEnv({ FLOTILLA_IPFS_API: guarded.api, FLOTILLA_IPFS_API_AUTH: `Bearer ${AGENT_TOKEN}` });
    const agent = run(pod.env);
    const bytes = randomBytes(2000);
    writeAtomically(pod.ckpt, 'step-7', { 'model.bin': bytes });
    await pollUntil(
      'the checkpoint reported',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    expect(await agent.stop()).toBe(0);
    const cid = receiver.cids()[0] as string;

    const into = podEnv({ FLOTILLA_IPFS_API: guarded.api, FLOTILLA_IPFS_API_AUTH: `Bearer ${AGENT_TOKEN}`, FLOTILLA_RESUME_FROM_CID: cid });
    expect(await startAgent('restore', into.env).exited).toBe(0);
    expect(readFileSync(join(into.ckpt, 'step-7', 'model.bin')).equals(bytes)).toBe(true);

    // Without the credential (what the job's own container has), nothing is added.
    const anonymous = await fetch(`${guarded.api}/api/v0/version`, { method: 'POST' });
    expect(anonymous.status).toBe(403);
    const noAuth = podEnv({ FLOTILLA_IPFS_API: guarded.api, FLOTILLA_RESUME_FROM_CID: cid, FLOTILLA_AGENT_RESTORE_TIMEOUT_MS: '1000' });
    expect(await startAgent('restore', noAuth.env).exited).toBe(1);
    // The agent's own credential does not reach beyond add and block/get.
    const shutdown = await fetch(`${guarded.api}/api/v0/shutdown`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    expect(shutdown.status).toBe(403);
    const unpin = await fetch(`${guarded.api}/api/v0/pin/rm?arg=${cid}`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    expect(unpin.status).toBe(403);
  }, 120_000);
});

describe('restore', () => {
  it('puts a reported checkpoint back byte for byte, and run afterwards does not report it again', async () => {
    // Attempt 1 writes and reports a checkpoint.
    const first = podEnv();
    const files = { 'model.bin': randomBytes(1_500_000), 'optim/shard-0.bin': randomBytes(70_000), 'optim/shard-1.bin': '', '.rng-state': 'seed 7' };
    const attempt1 = run(first.env);
    writeAtomically(first.ckpt, 'global_step_40', files);
    await pollUntil(
      'the checkpoint report of attempt 1',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    const cid = receiver.cids()[0] as string;
    await attempt1.stop();
    receiver.requests.length = 0;

    // Attempt 2: restore into an empty checkpoint folder, then run beside the "trainer".
    const second = podEnv({ FLOTILLA_RESUME_FROM_CID: cid, FLOTILLA_ATTEMPT: '3' });
    const restore = startAgent('restore', second.env);
    expect(await restore.exited).toBe(0);
    expect(restore.logs()).toMatch(/"msg":"checkpoint restored"/);
    const restored = filesUnder(join(second.ckpt, 'global_step_40'));
    const original = filesUnder(join(first.ckpt, 'global_step_40'));
    expect([...restored.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [path, bytes] of original) expect(restored.get(path)?.equals(bytes)).toBe(true);
    // Nothing half-written or temporary left beside it; the agent's note names what was restored.
    expect(readdirSync(second.ckpt).sort()).toEqual(['.flotilla-agent.json', 'global_step_40']);
    expect(JSON.parse(readFileSync(join(second.ckpt, '.flotilla-agent.json'), 'utf8'))).toMatchObject({ name: 'global_step_40', cid, origin: 'restored' });

    // Restoring again (the init container re-run) is a no-op.
    const again = startAgent('restore', second.env);
    expect(await again.exited).toBe(0);
    expect(again.logs()).toMatch(/"msg":"checkpoint already restored"/);

    const attempt2 = run(second.env);
    await sleep(8 * POLL_MS);
    expect(receiver.requests).toHaveLength(0);
    // The trainer resumes and writes the next checkpoint: that one is reported, for attempt 3.
    writeAtomically(second.ckpt, 'global_step_50', { 'model.bin': randomBytes(1000) });
    await pollUntil(
      'the report of the next checkpoint',
      async () => receiver.requests.length,
      (n) => n >= 1,
      30_000,
    );
    expect(receiver.requests[0]?.body).toMatchObject({ attempt: 3 });
    expect(await ls(receiver.cids()[0] as string)).toEqual(['global_step_50']);
    expect(await attempt2.stop()).toBe(0);
    expect(parseTerminationMessage(readFileSync(second.term, 'utf8')).checkpointCID).toBe(receiver.cids()[0]);
  });

  it('refuses a CID that is not a folder wrapping one entry, with exit 1, writing nothing', async () => {
    const file = (await kubo().add(randomBytes(100), { cidVersion: 1 })).cid.toString();
    const pod = podEnv({ FLOTILLA_RESUME_FROM_CID: file });
    const restore = startAgent('restore', pod.env);
    expect(await restore.exited).toBe(1);
    expect(restore.stderr()).toMatch(/cannot be restored: the CID is a file, not a folder wrapping one checkpoint entry\n$/);
    expect(readdirSync(pod.ckpt)).toEqual([]);
  });

  it('exits 0 at once with nothing to restore', async () => {
    const pod = podEnv();
    const restore = startAgent('restore', pod.env);
    expect(await restore.exited).toBe(0);
    expect(restore.logs()).toMatch(/"msg":"nothing to restore"/);
    expect(readdirSync(pod.ckpt)).toEqual([]);
  });

  it('gives up on an unreachable Kubo after its retry window with exit 1 and one line on stderr', async () => {
    const pod = podEnv({
      FLOTILLA_RESUME_FROM_CID: 'bafybeicikyxxx7tpxfdglv7ljrhsmu7oukquqpq4dh4w3uovf7av3uo6fu',
      FLOTILLA_IPFS_API: 'http://127.0.0.1:1',
      FLOTILLA_AGENT_RESTORE_TIMEOUT_MS: '2500',
    });
    const restore = startAgent('restore', pod.env);
    expect(await restore.exited).toBe(1);
    expect(restore.stderr()).toMatch(/^flotilla-agent: restore failed: could not restore \S+ within 2.5s: .*unreachable.*\n$/);
    expect(restore.logs()).toMatch(/"msg":"restore failed; retrying"/);
    expect(readdirSync(pod.ckpt)).toEqual([]);
  });

  it('exits 2 naming the variable that is wrong', async () => {
    const restore = startAgent('restore', { FLOTILLA_IPFS_API: 'not a url' });
    expect(await restore.exited).toBe(2);
    expect(restore.stderr()).toBe('flotilla-agent: FLOTILLA_IPFS_API must be an http(s) URL, got "not a url"\n');
  });
});
