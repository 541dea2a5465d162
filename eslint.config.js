// Lint configuration (eslint 9 flat config with typescript-eslint's recommended rules).
// `npm run lint` runs it. The type-aware rule set is not used: it needs a full type check of the
// project per run (minutes on a small CI machine), while tsc already checks types in the build.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/', 'test/interop/www-base/', 'www/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // A `let x!: T` that a closure reads and that is assigned once after it is made (two objects
      // that refer to each other) cannot be a const; nor can a destructured pair of which one
      // name is reassigned.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true, destructuring: 'all' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read the parsed JSON replies of the HTTP/WebSocket APIs under test as `any` and
      // assert on their shape; typing every reply would only restate the assertions.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
