import { DEFAULT_TOLERATIONS, formatTaint, toleratesTaint, untoleratedTaints } from './taints.ts';
import type { Taint, Toleration } from './types.ts';

describe('toleratesTaint', () => {
  const dedicated: Taint = { key: 'dedicated', value: 'team-a', effect: 'NoSchedule' };
  const cases: { name: string; toleration: Toleration; taint: Taint; want: boolean }[] = [
    {
      name: 'Equal with the same key, value and effect tolerates',
      toleration: { key: 'dedicated', operator: 'Equal', value: 'team-a', effect: 'NoSchedule' },
      taint: dedicated,
      want: true,
    },
    { name: 'Equal is the default operator', toleration: { key: 'dedicated', value: 'team-a' }, taint: dedicated, want: true },
    { name: 'Equal with another value does not tolerate', toleration: { key: 'dedicated', value: 'team-b' }, taint: dedicated, want: false },
    { name: 'Exists ignores the value', toleration: { key: 'dedicated', operator: 'Exists' }, taint: dedicated, want: true },
    { name: 'an empty key with Exists tolerates everything', toleration: { operator: 'Exists' }, taint: dedicated, want: true },
    { name: 'an empty key with Equal tolerates nothing', toleration: { value: 'team-a' }, taint: dedicated, want: false },
    { name: 'another effect does not tolerate', toleration: { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, taint: dedicated, want: false },
    { name: 'another key does not tolerate', toleration: { key: 'nvidia.com/gpu', operator: 'Exists' }, taint: dedicated, want: false },
    {
      name: 'a taint without value matches an Equal toleration without value',
      toleration: { key: 'spot', operator: 'Equal' },
      taint: { key: 'spot', effect: 'NoSchedule' },
      want: true,
    },
  ];
  it.each(cases)('$name', ({ toleration, taint, want }) => {
    expect(toleratesTaint(toleration, taint)).toBe(want);
  });
});

describe('untoleratedTaints', () => {
  it('keeps the NoSchedule and NoExecute taints the defaults do not cover', () => {
    const taints: Taint[] = [
      { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
      { key: 'nvidia.com/gpu', effect: 'NoExecute' },
      { key: 'spot', value: 'true', effect: 'PreferNoSchedule' },
      { key: 'flotilla.dev/reclaim', value: '2025-01-01T00:00:00Z', effect: 'NoSchedule' },
    ];
    expect(untoleratedTaints(taints, DEFAULT_TOLERATIONS).map(formatTaint)).toEqual([
      'nvidia.com/gpu:NoExecute',
      'flotilla.dev/reclaim=2025-01-01T00:00:00Z:NoSchedule',
    ]);
  });
});
