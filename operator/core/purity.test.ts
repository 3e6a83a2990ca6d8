// The placement engine and quantity parsing stay pure (ARCHITECTURE §3, STYLE "dependencies point
// inward"): they import only each other, and read no clock, randomness, process or timers. The
// ESLint rule for operator/core says the same about imports; this test also covers the globals.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const placementDir = fileURLToPath(new URL('.', import.meta.url));
/** Paths relative to this folder. */
const sources = [
  ...readdirSync(placementDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')),
  '../quantity.ts',
];

const forbidden: { name: string; pattern: RegExp }[] = [
  { name: 'an import that is not a relative .ts module', pattern: /\bfrom\s+'(?!\.\.?\/[^']*\.ts')[^']*'/ },
  { name: 'a dynamic import', pattern: /\bimport\s*\(/ },
  { name: 'the wall clock', pattern: /\bDate\.now\s*\(|\bnew Date\(\s*\)|\bperformance\./ },
  { name: 'unseeded randomness', pattern: /\bMath\.random\b|\bcrypto\./ },
  { name: 'the process', pattern: /\bprocess\./ },
  { name: 'timers', pattern: /\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/ },
  { name: 'the locale', pattern: /\blocaleCompare\b|\bIntl\./ },
];

describe('placement purity', () => {
  it('finds the sources it checks', () => {
    expect(sources.length).toBeGreaterThan(8);
  });
  const cases = sources.flatMap((file) => forbidden.map(({ name, pattern }) => ({ file, name, pattern })));
  it.each(cases)('$file uses no $name', ({ file, pattern }) => {
    const text = readFileSync(join(placementDir, file), 'utf8');
    const code = text.split('\n').filter((line) => !/^\s*(\/\/|\*)/.test(line)).join('\n');
    expect(code.match(pattern)?.[0]).toBeUndefined();
  });
});
