import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Node and library imports that `operator/core` (pure decisions) must never reach for: time,
// randomness, I/O and clients come in as arguments. A unit test also checks this (operator/core).
const impureModules = ['node:*', 'fs', 'fs/*', 'http', 'https', 'net', 'child_process', 'crypto',
  '@kubernetes/*', 'kubo-rpc-client', 'ethers', 'express', 'js-yaml', '@opentelemetry/*'];

const runtimeForbidden = ['**/test/**', '**/federation/**'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.flotilla/**', 'contracts/build/**', 'charts/**', 'crds/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', Buffer: 'readonly', AbortController: 'readonly', fetch: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Runtime code never imports test helpers or the dev-only local federation.
    files: ['operator/**/*.ts'],
    ignores: ['operator/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: runtimeForbidden, message: 'runtime code must not import test or local-federation code.' }] }],
    },
  },
  {
    files: ['operator/core/**/*.ts'],
    ignores: ['operator/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: impureModules, message: 'operator/core is pure: take time, randomness and I/O as arguments.' },
        { group: runtimeForbidden, message: 'runtime code must not import test or local-federation code.' },
      ] }],
    },
  },
);
