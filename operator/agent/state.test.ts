import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFilesUnder, parseAgentState, readAgentState, STATE_FILE, writeAgentState } from './state.ts';

const CID = 'bafybeicikyxxx7tpxfdglv7ljrhsmu7oukquqpq4dh4w3uovf7av3uo6fu';

describe('the agent state file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back what was written, leaving no temp file', async () => {
    const state = { name: 'step-1', cid: CID, fingerprint: 'f', origin: 'added' as const, attempt: 'u/2', time: 5 };
    await writeAgentState(dir, state);
    expect(await readAgentState(dir)).toEqual(state);
    expect(readdirSync(dir)).toEqual([STATE_FILE]);
  });

  it('takes a missing or damaged file as none', async () => {
    expect(await readAgentState(dir)).toBeUndefined();
    writeFileSync(join(dir, STATE_FILE), '{"name": "step-1", "cid": ');
    expect(await readAgentState(dir)).toBeUndefined();
  });

  it.each([
    ['not JSON', 'x'],
    ['no name', JSON.stringify({ cid: CID, fingerprint: 'f', origin: 'restored' })],
    ['a CID that is not one', JSON.stringify({ name: 'a', cid: 'x', fingerprint: 'f', origin: 'restored' })],
    ['an unknown origin', JSON.stringify({ name: 'a', cid: CID, fingerprint: 'f', origin: 'guessed' })],
  ])('refuses a state with %s', (_, text) => expect(parseAgentState(text)).toBeUndefined());
});

describe('agentFilesUnder', () => {
  it.each<[string, string | undefined, string, boolean]>([
    ['/out', '/out/ckpt', 'ckpt/.flotilla-agent.json', true],
    ['/out', '/out/ckpt', 'ckpt/.flotilla-agent-restore-12', true],
    ['/out', '/out/ckpt', 'ckpt/step-1', false],
    ['/out', '/out/ckpt', '.flotilla-agent.json', false],
    ['/out', '/out', '.flotilla-agent.json', true],
    ['/out', '/ckpt', '.flotilla-agent.json', false],
    ['/out', undefined, '.flotilla-agent.json', false],
  ])('under %s with checkpoints at %s: %s is the agent’s → %s', (root, ckpt, path, want) => {
    expect(agentFilesUnder(root, ckpt)(path)).toBe(want);
  });
});
