import { parseTerminationMessage } from '../core/lifecycle/report.ts';
import { terminationMessage } from './termination.ts';

const OUT = 'bafybeibttk67itszoery6hzihzfclk5m5njcxfgynxypvmqtot4f7bzmrm';
const CKPT = 'bafybeicikyxxx7tpxfdglv7ljrhsmu7oukquqpq4dh4w3uovf7av3uo6fu';
const TIME = Date.parse('2026-01-02T03:04:05.678Z');

describe('terminationMessage', () => {
  it.each<[string, Parameters<typeof terminationMessage>[0], Record<string, string>]>([
    ['nothing', {}, {}],
    ['only the output', { outputCID: OUT }, { outputCID: OUT }],
    ['only a checkpoint', { checkpoint: { cid: CKPT, time: TIME } }, { checkpointCID: CKPT, checkpointTime: '2026-01-02T03:04:05.678Z' }],
    ['both', { outputCID: OUT, checkpoint: { cid: CKPT, time: TIME } }, { outputCID: OUT, checkpointCID: CKPT, checkpointTime: '2026-01-02T03:04:05.678Z' }],
  ])('with %s: only the keys that exist', (_, result, want) => {
    expect(JSON.parse(terminationMessage(result))).toEqual(want);
  });

  it("is read back by the operator's parser as the same report", () => {
    const message = terminationMessage({ outputCID: OUT, checkpoint: { cid: CKPT, time: TIME } });
    expect(parseTerminationMessage(message)).toEqual({ outputCID: OUT, checkpointCID: CKPT, checkpointTime: TIME });
  });

  it('refuses to write something that is not a CID', () => {
    expect(() => terminationMessage({ outputCID: 'nope' })).toThrow('outputCID nope is not a CID');
  });
});
