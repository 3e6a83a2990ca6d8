import { parseFailpoints } from './failpoint.ts';

describe('FLOTILLA_FAILPOINT', () => {
  it.each([
    ['before-status-write', [['before-status-write', { hit: 1, action: 'kill' }]]],
    ['before-status-write@3', [['before-status-write', { hit: 3, action: 'kill' }]]],
    [
      'after-pin@2:stop, after-pod-create',
      [
        ['after-pin', { hit: 2, action: 'stop' }],
        ['after-pod-create', { hit: 1, action: 'kill' }],
      ],
    ],
    ['Bad Name,@3,', []],
  ])('parses %s', (spec, expected) => {
    expect([...parseFailpoints(spec)]).toEqual(expected);
  });
});
