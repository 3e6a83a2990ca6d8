import { drawFor, loadVerificationConfig } from './config.ts';

describe('the verification draw', () => {
  it('is the same for the same key and uid, and another for another key', () => {
    const key = Buffer.from('a key of at least sixteen chars');
    expect(drawFor(key, 'uid-1')).toBe(drawFor(key, 'uid-1'));
    expect(drawFor(key, 'uid-1')).not.toBe(drawFor(Buffer.from('another key, sixteen+ chars'), 'uid-1'));
  });
  it('is uniform in [0, 1): about a tenth of 10,000 uids fall under 0.1', () => {
    const key = Buffer.from('a key of at least sixteen chars');
    const draws = Array.from({ length: 10_000 }, (_, i) => drawFor(key, `uid-${i}`));
    expect(draws.every((d) => d >= 0 && d < 1)).toBe(true);
    const share = draws.filter((d) => d < 0.1).length / draws.length;
    // Binomial(10000, 0.1): σ = 0.003; ±5σ.
    expect(Math.abs(share - 0.1)).toBeLessThan(0.015);
  });
});

describe('loadVerificationConfig', () => {
  it('defaults: no floor, a random key, slash 100', () => {
    const c = loadVerificationConfig({});
    expect(c.hubFloor).toEqual({ mode: 'None' });
    expect(c.slashAmount).toBe('100');
    expect(loadVerificationConfig({}).draw('x')).not.toBe(c.draw('x'));
  });
  it('reads the floor, the window and a fixed key', () => {
    const env = {
      FLOTILLA_VERIFICATION_MODE: 'SpotCheck',
      FLOTILLA_VERIFICATION_SAMPLE_RATE: '0.25',
      FLOTILLA_VERIFICATION_WINDOW: '30m',
      FLOTILLA_VERIFICATION_SECRET: 'sixteen chars or more',
      FLOTILLA_SLASH_AMOUNT: '12.5',
    };
    const c = loadVerificationConfig(env);
    expect(c.hubFloor).toEqual({ mode: 'SpotCheck', sampleRate: 0.25, windowMs: 1_800_000 });
    expect(c.slashAmount).toBe('12.5');
    expect(c.draw('x')).toBe(loadVerificationConfig(env).draw('x'));
  });
  it.each([
    [{ FLOTILLA_VERIFICATION_MODE: 'spotcheck' }, /FLOTILLA_VERIFICATION_MODE/],
    [{ FLOTILLA_VERIFICATION_SAMPLE_RATE: '1.5' }, /FLOTILLA_VERIFICATION_SAMPLE_RATE/],
    [{ FLOTILLA_VERIFICATION_WINDOW: '1 hour' }, /FLOTILLA_VERIFICATION_WINDOW/],
    [{ FLOTILLA_SLASH_AMOUNT: '-1' }, /FLOTILLA_SLASH_AMOUNT/],
    [{ FLOTILLA_VERIFICATION_SECRET: 'short' }, /at least 16/],
  ])('refuses %j', (env, message) => {
    expect(() => loadVerificationConfig(env)).toThrow(message);
  });
});
