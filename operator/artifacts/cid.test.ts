import { CID_V0, CID_V1 } from '../../test/support/admission-cases.ts';
import { checkCid, parseCid } from './cid.ts';

describe('checkCid', () => {
  it.each([
    ['a CIDv0 (base58btc, Qm…)', CID_V0, 0],
    ['a CIDv1 dag-pb in base32 (bafy…)', CID_V1, 1],
    ['a CIDv1 raw leaf in base32 (bafk…)', 'bafkreiallovn3lwtw6i52bfxwe2gjba7fwzr5kaewbrm34g5tmbrxnbph4', 1],
    ['a CIDv1 in base58btc (z…)', 'zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7', 1],
  ])('accepts %s', (_what, cid, version) => {
    const checked = checkCid(cid);
    expect(checked).toMatchObject({ ok: true, version });
  });

  it.each([
    ['a v0-looking string that does not decode', 'Qm123', /not a CID/],
    ['a base32 CID with its last character cut off', CID_V1.slice(0, -1), /not a CID/],
    ['a word', 'hello', /not a CID/],
    ['an empty string', '', /empty/],
    ['whitespace around a valid CID', ` ${CID_V1}`, /whitespace/],
    ['a number', 42, /expected a CID string, got number/],
    ['null', null, /got null/],
    ['a string longer than status fields hold', `b${'a'.repeat(200)}`, /longer than 128/],
  ])('refuses %s, saying why', (_what, value, why) => {
    const checked = checkCid(value);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.message).toMatch(why);
  });

  it('parseCid names the field in its error', () => {
    expect(() => parseCid('Qm123', 'status.outputCID')).toThrow(/^status\.outputCID: "Qm123" is not a CID/);
    expect(parseCid(CID_V0).toString()).toBe(CID_V0);
  });
});
