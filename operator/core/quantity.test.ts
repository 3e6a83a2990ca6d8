import {
  bytesFromQuantity,
  compareQuantities,
  countFromQuantity,
  cpuMillisFromQuantity,
  formatBytes,
  formatCpuMillis,
  InvalidQuantityError,
  parseQuantity,
  quantityMilliValue,
  quantityValue,
} from './quantity.ts';

describe('parseQuantity', () => {
  const cases: { name: string; text: string; value: bigint; milli: bigint }[] = [
    { name: 'a plain integer is whole units', text: '8', value: 8n, milli: 8000n },
    { name: 'millicores are thousandths', text: '500m', value: 1n, milli: 500n },
    { name: 'a decimal fraction is exact', text: '1.5', value: 2n, milli: 1500n },
    { name: 'a leading dot is a fraction', text: '.25', value: 1n, milli: 250n },
    { name: 'a trailing dot is allowed', text: '3.', value: 3n, milli: 3000n },
    { name: 'binary suffixes are powers of 1024', text: '16Gi', value: 17179869184n, milli: 17179869184000n },
    { name: 'a fractional binary amount is exact', text: '1.5Gi', value: 1610612736n, milli: 1610612736000n },
    { name: 'decimal suffixes are powers of 1000', text: '2k', value: 2000n, milli: 2000000n },
    { name: 'an upper-case E alone is exa', text: '1E', value: 10n ** 18n, milli: 10n ** 21n },
    { name: 'a decimal exponent scales by ten', text: '2e3', value: 2000n, milli: 2000000n },
    { name: 'a negative exponent makes a fraction', text: '15E-1', value: 2n, milli: 1500n },
    { name: 'nano units round up to one milli', text: '1n', value: 1n, milli: 1n },
    { name: 'micro units round up to one milli', text: '999u', value: 1n, milli: 1n },
    { name: 'exactly 1000 micro is one milli', text: '1000u', value: 1n, milli: 1n },
    { name: 'zero is zero', text: '0', value: 0n, milli: 0n },
    { name: 'a plus sign is allowed', text: '+4', value: 4n, milli: 4000n },
    { name: 'a negative amount rounds toward positive infinity', text: '-1.5', value: -1n, milli: -1500n },
    { name: 'memory in decimal megabytes', text: '128M', value: 128000000n, milli: 128000000000n },
  ];
  it.each(cases)('$name ($text)', ({ text, value, milli }) => {
    expect({ value: quantityValue(text), milli: quantityMilliValue(text) }).toEqual({ value, milli });
  });

  const invalid: { name: string; text: string }[] = [
    { name: 'an empty string', text: '' },
    { name: 'a bare suffix', text: 'Gi' },
    { name: 'a lower-case binary suffix', text: '1gi' },
    { name: 'an unknown suffix', text: '5x' },
    { name: 'an object property name as suffix', text: '1constructor' },
    { name: 'a space inside', text: '1 Gi' },
    { name: 'two dots', text: '1.2.3' },
    { name: 'a huge exponent', text: '1e999999' },
    { name: 'a lone sign', text: '-' },
  ];
  it.each(invalid)('rejects $name', ({ text }) => {
    expect(() => parseQuantity(text)).toThrow(InvalidQuantityError);
  });

  it('keeps equal quantities equal field by field', () => {
    expect([parseQuantity('1.50'), parseQuantity('1500m'), parseQuantity('15e-1')]).toEqual(Array(3).fill({ numerator: 15n, denominator: 10n }));
  });
});

describe('compareQuantities', () => {
  const cases: { name: string; a: string; b: string; order: number }[] = [
    { name: 'binary and decimal memory compare exactly', a: '1Gi', b: '1G', order: 1 },
    { name: 'the same amount in two spellings is equal', a: '0.5', b: '500m', order: 0 },
    { name: 'millicores below a core are smaller', a: '999m', b: '1', order: -1 },
  ];
  it.each(cases)('$name', ({ a, b, order }) => {
    expect(compareQuantities(a, b)).toBe(order);
  });
});

describe('plain-number conversions for the placement engine', () => {
  it('converts cpu, memory and device counts', () => {
    expect({
      cpu: cpuMillisFromQuantity('7500m'),
      memory: bytesFromQuantity('1Ti'),
      gpus: countFromQuantity('8'),
    }).toEqual({ cpu: 7500, memory: 1099511627776, gpus: 8 });
  });
  it('refuses negative amounts and amounts beyond 2^53', () => {
    expect(() => bytesFromQuantity('-1')).toThrow(InvalidQuantityError);
    expect(() => bytesFromQuantity('16Ei')).toThrow(InvalidQuantityError);
  });
  it('formats bytes and millicores back the way Kubernetes writes them', () => {
    expect([formatBytes(17179869184), formatBytes(1536n * 1024n * 1024n), formatBytes(1000), formatBytes(0)]).toEqual(['16Gi', '1536Mi', '1000', '0']);
    expect([formatCpuMillis(16000), formatCpuMillis(500)]).toEqual(['16', '500m']);
  });
});
