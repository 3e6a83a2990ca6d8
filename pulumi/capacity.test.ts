import { lentFromCapacity } from './capacity.ts';
import type { GpuCapacity } from './capacity.ts';

const pool = (poolName: string, product: string, gpus: number, pricePerGpuHour: string): GpuCapacity => ({
  poolName,
  product,
  gpus,
  region: 'eu-west',
  pricePerGpuHour,
  ready: [],
});

describe('lentFromCapacity', () => {
  test('lends the sum of the pools and prices each product once', () => {
    expect(
      lentFromCapacity([
        pool('h100-a', 'NVIDIA-H100-80GB-HBM3', 16, '2.40'),
        pool('h100-b', 'NVIDIA-H100-80GB-HBM3', 8, '2.40'),
        pool('l4', 'NVIDIA-L4', 4, '0.45'),
      ]),
    ).toEqual({
      lentGpus: 28,
      prices: { 'NVIDIA-H100-80GB-HBM3': '2.40', 'NVIDIA-L4': '0.45' },
    });
  });

  test('refuses two pools that price one product differently, naming both prices and the pool', () => {
    expect(() => lentFromCapacity([pool('a', 'NVIDIA-L4', 1, '0.45'), pool('b', 'NVIDIA-L4', 1, '0.50')])).toThrow(
      'pools disagree on the price of NVIDIA-L4: 0.45 and 0.50 (b)',
    );
  });

  test('no pools lend nothing', () => {
    expect(lentFromCapacity([])).toEqual({ lentGpus: 0, prices: {} });
  });
});
