// Jest 30 in native ESM mode (run with --experimental-vm-modules). ts-jest only transpiles
// (isolatedModules); `tsc --noEmit` is the type check. Three projects:
//   unit         — pure logic beside the code (operator/**), no I/O, no federation; also the tests of
//                  the test-support code in test/support/ (e.g. the local CEL evaluator), and the
//                  docs tests in test/docs/ (they only read the repository's own files)
//   chain        — test/chain/**, contract tests; each suite starts its own real anvil (clean chain state)
//   integration  — test/**, against the real local federation, started once per run by globalSetup
const transform = {
  '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testEnvironment: 'node',
  // The federation's state (etcd's *.snap files among it) is not source: keep Jest's crawler out.
  modulePathIgnorePatterns: ['<rootDir>/\\.flotilla'],
};

export default {
  // Integration suites share one federation (and 2 cores): run test files one at a time.
  maxWorkers: 1,
  // testTimeout is a global option in Jest 30 (ignored inside projects); unit tests finish in ms.
  testTimeout: 120_000,
  reporters: ['default', '<rootDir>/test/support/plain-summary-reporter.js'],
  testSequencer: '<rootDir>/test/support/sequencer.js',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/operator/**/*.test.ts',
        '<rootDir>/federation/**/*.test.ts',
        '<rootDir>/cli/**/*.test.ts',
        '<rootDir>/pulumi/*.test.ts',
        '<rootDir>/bench/**/*.test.ts',
        '<rootDir>/test/support/**/*.test.ts',
        '<rootDir>/test/docs/**/*.test.ts',
      ],
    },
    {
      ...common,
      displayName: 'chain',
      testMatch: ['<rootDir>/test/chain/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/chain/', '<rootDir>/test/support/', '<rootDir>/test/docs/'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
