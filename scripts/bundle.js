#!/usr/bin/env node
// `npm run build`, after tsc: bundles the compiled CLI (dist/src/cli/main.js) and everything
// it imports from this package into dist/bundle/, which bin/worker.js loads. Node then reads
// a few files instead of about a hundred modules at every start (bench/README.md, "Bundled start-up").
// Code that is imported on first use (subcommands, the protocol sessions, tar, the test master)
// stays in chunks of its own, loaded only when it is needed. The dependencies in package.json
// stay outside: they are installed beside the package and loaded from node_modules.

import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/main.js'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
