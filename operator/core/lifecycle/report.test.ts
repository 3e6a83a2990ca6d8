import { isCid, parseTerminationMessage } from './report.ts';

const V1 = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const V0 = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';

describe('parseTerminationMessage', () => {
  it('reads output and checkpoint CIDs (v0 and v1) and the checkpoint time', () => {
    expect(parseTerminationMessage(JSON.stringify({ outputCID: V1, checkpointCID: V0, checkpointTime: '2026-11-23T10:00:00Z', extra: 1 }))).toEqual({
      outputCID: V1,
      checkpointCID: V0,
      checkpointTime: Date.parse('2026-11-23T10:00:00Z'),
    });
  });

  it('dates a checkpoint without checkpointTime at the moment the pod ended', () => {
    expect(parseTerminationMessage(JSON.stringify({ checkpointCID: V0 }), 42)).toEqual({ checkpointCID: V0, checkpointTime: 42 });
  });

  it.each([
    ['not JSON', 'panic: oom', 'not JSON'],
    ['an array', '[1]', 'not a JSON object'],
    ['a bad output CID', JSON.stringify({ outputCID: 'Qm123' }), 'outputCID "Qm123" is not a CID'],
    ['a bad checkpoint CID', JSON.stringify({ outputCID: V1, checkpointCID: 7 }), 'checkpointCID 7 is not a CID'],
  ])('says what is wrong with %s, keeping what is usable', (_what, message, why) => {
    const r = parseTerminationMessage(message);
    expect(r.invalid).toContain(why);
    expect(r.checkpointCID).toBeUndefined();
  });

  it('treats an empty message as no report', () => {
    expect(parseTerminationMessage('')).toEqual({});
    expect(parseTerminationMessage(undefined)).toEqual({});
  });

  it('accepts CID syntax only', () => {
    expect([V0, V1].every(isCid)).toBe(true);
    expect(['', 'bafy', 'Qm' + '0'.repeat(44), 42].some(isCid)).toBe(false);
  });
});
