import { AgentConfigError, DEFAULT_AGENT_LIMITS, parseAgentConfig } from './config.ts';

const CID = 'bafybeicikyxxx7tpxfdglv7ljrhsmu7oukquqpq4dh4w3uovf7av3uo6fu';
const base = { FLOTILLA_IPFS_API: 'http://127.0.0.1:5001/', FLOTILLA_OUTPUT_PATH: '/out/' };
const reporting = {
  ...base,
  FLOTILLA_REPORT_URL: 'http://flotilla.example:8090/v1/checkpoints',
  FLOTILLA_REPORT_TOKEN: 'abc123',
  FLOTILLA_JOB_NAME: 'team-a/train-1',
  FLOTILLA_JOB_UID: '0b6c5a5e-4a3f-4f0e-9d0e-1d2b3c4d5e6f',
  FLOTILLA_ATTEMPT: '2',
  FLOTILLA_REPLICA: '0',
};

describe('parseAgentConfig', () => {
  it('reads the least a run needs, with the defaults', () => {
    expect(parseAgentConfig(base, 'run')).toEqual({
      ipfsApi: 'http://127.0.0.1:5001',
      outputPath: '/out',
      replica: 0,
      pollMs: 2000,
      flushMs: 20000,
      terminationLog: '/dev/termination-log',
      limits: DEFAULT_AGENT_LIMITS,
      restoreWindowMs: 120_000,
      addTimeoutMs: 1_800_000,
    });
  });

  it("takes the provider's Kubo credential as one header value, and refuses one that is not", () => {
    expect(parseAgentConfig({ ...base, FLOTILLA_IPFS_API_AUTH: 'Bearer s3cret' }, 'run').ipfsAuth).toBe('Bearer s3cret');
    expect(() => parseAgentConfig({ ...base, FLOTILLA_IPFS_API_AUTH: 'Bearer a\r\nX-Evil: 1' }, 'run')).toThrow(/FLOTILLA_IPFS_API_AUTH/);
  });

  it('reads everything the operator sets', () => {
    const config = parseAgentConfig(
      {
        ...reporting,
        FLOTILLA_CHECKPOINT_PATH: '/ckpt',
        FLOTILLA_RESUME_FROM_CID: CID,
        FLOTILLA_CHECKPOINT_MARKER: 'COMPLETE',
        FLOTILLA_AGENT_POLL_MS: '500',
        FLOTILLA_AGENT_FLUSH_MS: '25000',
        FLOTILLA_TERMINATION_LOG: '/tmp/term',
      },
      'run',
    );
    const job = { namespace: 'team-a', name: 'train-1', uid: '0b6c5a5e-4a3f-4f0e-9d0e-1d2b3c4d5e6f', attempt: 2 };
    expect(config).toMatchObject({
      checkpointPath: '/ckpt',
      resumeFromCid: CID,
      marker: 'COMPLETE',
      pollMs: 500,
      flushMs: 25000,
      terminationLog: '/tmp/term',
      job,
      report: { url: 'http://flotilla.example:8090/v1/checkpoints', token: 'abc123', job },
    });
  });

  it('restore needs no output path', () => {
    expect(parseAgentConfig({ FLOTILLA_IPFS_API: 'http://kubo:5001' }, 'restore').outputPath).toBeUndefined();
  });

  it('only replica 0 reports; the others still know their job', () => {
    const config = parseAgentConfig({ ...reporting, FLOTILLA_REPLICA: '3' }, 'run');
    expect(config.report).toBeUndefined();
    expect(config.replica).toBe(3);
    expect(config.job?.attempt).toBe(2);
  });

  it.each<[string, Record<string, string>, string]>([
    ['no Kubo API', { FLOTILLA_OUTPUT_PATH: '/out' }, 'FLOTILLA_IPFS_API is required'],
    ['a Kubo API that is not http', { ...base, FLOTILLA_IPFS_API: 'ftp://kubo' }, 'FLOTILLA_IPFS_API must be an http(s) URL, got "ftp://kubo"'],
    ['a Kubo API that is not a URL', { ...base, FLOTILLA_IPFS_API: 'kubo:5001x' }, 'FLOTILLA_IPFS_API must be an http(s) URL'],
    ['no output path for run', { FLOTILLA_IPFS_API: 'http://kubo:5001' }, 'FLOTILLA_OUTPUT_PATH is required for run'],
    ['a relative output path', { ...base, FLOTILLA_OUTPUT_PATH: 'out' }, 'FLOTILLA_OUTPUT_PATH must be an absolute path'],
    ['a checkpoint path with ..', { ...base, FLOTILLA_CHECKPOINT_PATH: '/data/../etc' }, 'FLOTILLA_CHECKPOINT_PATH must be an absolute path without ".."'],
    ['a resume CID that is not one', { ...base, FLOTILLA_RESUME_FROM_CID: 'not-a-cid' }, 'FLOTILLA_RESUME_FROM_CID must be a CID, got "not-a-cid"'],
    ['a marker with a slash', { ...base, FLOTILLA_CHECKPOINT_MARKER: 'a/DONE' }, 'FLOTILLA_CHECKPOINT_MARKER must be a plain file name'],
    ['a marker of ..', { ...base, FLOTILLA_CHECKPOINT_MARKER: '..' }, 'FLOTILLA_CHECKPOINT_MARKER must be a plain file name'],
    ['a poll of 50 ms', { ...base, FLOTILLA_AGENT_POLL_MS: '50' }, 'FLOTILLA_AGENT_POLL_MS must be between 100 and 600000, got "50"'],
    ['a poll in seconds', { ...base, FLOTILLA_AGENT_POLL_MS: '2s' }, 'FLOTILLA_AGENT_POLL_MS must be a positive integer, got "2s"'],
    ['a flush of 0', { ...base, FLOTILLA_AGENT_FLUSH_MS: '0' }, 'FLOTILLA_AGENT_FLUSH_MS must be a positive integer'],
    ['a relative termination log', { ...base, FLOTILLA_TERMINATION_LOG: 'term' }, 'FLOTILLA_TERMINATION_LOG must be an absolute path'],
    ['a negative replica', { ...base, FLOTILLA_REPLICA: '-1' }, 'FLOTILLA_REPLICA must be an integer ≥ 0, got "-1"'],
    ['attempt 0', { ...base, FLOTILLA_ATTEMPT: '0' }, 'FLOTILLA_ATTEMPT must be a positive integer, got "0"'],
    ['a job name without a namespace', { ...base, FLOTILLA_JOB_NAME: 'train-1' }, 'FLOTILLA_JOB_NAME must be "<namespace>/<name>", got "train-1"'],
    ['a job uid with a space', { ...base, FLOTILLA_JOB_UID: 'a b' }, 'FLOTILLA_JOB_UID must be 1–128 printable characters'],
    ['a report URL without the replica', { ...reporting, FLOTILLA_REPLICA: '' }, 'FLOTILLA_REPLICA is required with FLOTILLA_REPORT_URL'],
    ['a report URL without a token', { ...reporting, FLOTILLA_REPORT_TOKEN: '' }, 'FLOTILLA_REPORT_TOKEN is required with FLOTILLA_REPORT_URL'],
    ['a report URL without the job name', { ...reporting, FLOTILLA_JOB_NAME: '' }, 'FLOTILLA_JOB_NAME is required with FLOTILLA_REPORT_URL'],
    ['a report URL without the attempt', { ...reporting, FLOTILLA_ATTEMPT: '' }, 'FLOTILLA_ATTEMPT is required with FLOTILLA_REPORT_URL'],
    ['a report URL that is not http', { ...reporting, FLOTILLA_REPORT_URL: 'file:///etc/passwd' }, 'FLOTILLA_REPORT_URL must be an http(s) URL'],
    ['a byte limit of 1e9', { ...base, FLOTILLA_AGENT_MAX_BYTES: '1e9' }, 'FLOTILLA_AGENT_MAX_BYTES must be a positive integer'],
  ])('refuses %s, naming the variable', (_, env, message) => {
    expect(() => parseAgentConfig(env, 'run')).toThrow(AgentConfigError);
    expect(() => parseAgentConfig(env, 'run')).toThrow(message);
  });
});
