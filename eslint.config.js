import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Node and library imports that `operator/core` (pure decisions) must never reach for: time,
// randomness, I/O and clients come in as arguments. operator/core/purity.test.ts also checks every
// file there (and the globals), and operator/boundaries.test.ts lints forbidden snippets to prove
// these rules fire.
const impureModules = [
  'node:*',
  'fs',
  'fs/*',
  'http',
  'https',
  'net',
  'child_process',
  'crypto',
  '@kubernetes/*',
  'kubo-rpc-client',
  'ethers',
  'express',
  'js-yaml',
  '@opentelemetry/*',
];

// Shipped code (operator/, cli/, pulumi/) never imports test support (test/) or the dev-only local
// federation (federation/).
const runtimeForbidden = ['**/test/**', '**/federation/**'];
const runtimeMessage = 'shipped code (operator/, cli/, pulumi/) must not import test or local-federation code.';

export default tseslint.config(
  { ignores: ['node_modules/**', '.flotilla/**', 'contracts/build/**', 'dist/**', 'pulumi/dist/**', 'charts/**', 'crds/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        AbortController: 'readonly',
        fetch: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['operator/**/*.ts', 'cli/**/*.ts', 'pulumi/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: runtimeForbidden, message: runtimeMessage }] }],
    },
  },
  {
    // Benchmarks share the tests' helpers through test/support only, never a suite's own files.
    files: ['bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)test/(?!support/)', message: "bench/ imports shared helpers from test/support, not from a test suite's folder." }] },
      ],
    },
  },
  {
    // Replaces the block above for operator/core (flat config overrides a rule's options, it does
    // not merge them), so it repeats the shipped-code patterns.
    files: ['operator/core/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: impureModules, message: 'operator/core is pure: take time, randomness and I/O as arguments.' },
            { group: runtimeForbidden, message: runtimeMessage },
          ],
        },
      ],
    },
  },
);
