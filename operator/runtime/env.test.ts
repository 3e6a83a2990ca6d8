import { flag, port, positiveInt, positiveNumber } from './env.ts';

class Custom extends Error {}

describe('environment numbers', () => {
  it('falls back when unset or empty', () => {
    expect(positiveInt({}, 'N', 7)).toBe(7);
    expect(positiveInt({ N: '' }, 'N', 7)).toBe(7);
    expect(positiveNumber({}, 'Q', 0.5)).toBe(0.5);
    expect(port({}, 'P', 8080)).toBe(8080);
  });

  it('reads plain decimal digits', () => {
    expect(positiveInt({ N: '15000' }, 'N', 1)).toBe(15000);
    expect(positiveNumber({ Q: '2.5' }, 'Q', 1)).toBe(2.5);
    expect(port({ P: '0' }, 'P', 1)).toBe(0);
    expect(port({ P: 'off' }, 'P', 1)).toBeUndefined();
  });

  it.each(['0', '-1', '1.5', '1e3', '0x10', ' 5', '5ms', 'NaN', '99999999999999999999'])('refuses %j as a positive integer, naming the variable', (raw) => {
    expect(() => positiveInt({ FLOTILLA_X: raw }, 'FLOTILLA_X', 1)).toThrow(`FLOTILLA_X must be a positive integer, got "${raw}"`);
  });

  it.each(['0', '0.0', '-2', '1e3', 'Infinity', '.5'])('refuses %j as a positive number', (raw) => {
    expect(() => positiveNumber({ FLOTILLA_QPS: raw }, 'FLOTILLA_QPS', 1)).toThrow('FLOTILLA_QPS must be a positive number');
  });

  it('refuses a port out of range or not digits', () => {
    expect(() => port({ P: '65536' }, 'P', 1)).toThrow('P must be a TCP port');
    expect(() => port({ P: '-1' }, 'P', 1)).toThrow('P must be a TCP port');
  });

  it("throws the caller's error type when asked", () => {
    expect(() => positiveInt({ N: 'x' }, 'N', 1, Custom)).toThrow(Custom);
  });

  it('reads flags', () => {
    expect([flag({}, 'F'), flag({ F: 'TRUE ' }, 'F'), flag({ F: '0' }, 'F')]).toEqual([false, true, false]);
    expect(() => flag({ F: 'yes' }, 'F')).toThrow('F must be 1/true or 0/false, got "yes"');
  });
});
