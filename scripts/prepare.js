#!/usr/bin/env node
// `npm run prepare` (npm runs it on `npm pack`, on a local `npm install`, and when it installs
// this package from git): compiles src/ into dist/src/ and bundles it into dist/bundle/, the
// code the package ships (scripts/bundle.js).
//
// Installing from git, npm (up to 11) clones the repository into its cache, runs
// `npm install` there, then this script, then packs the clone. That `npm install` inherits
// the environment of the npm that runs it, `npm_config_global=true` included when the user
// typed `npm install -g git+...` (npm/cli#6984): it does not install the build tools into
// the clone, it installs the clone itself globally, a symlink to the temporary clone in place
// of the directory the outer install is filling; the clone is deleted afterwards, and the
// outer install fails (`spawn sh ENOENT` running node-pty's install script in a directory
// that is gone). So, when the environment says global:
//  - the symlink back to this clone is replaced by an empty directory again, which the outer
//    install then fills with the packed clone;
//  - the build tools are installed into the clone locally (`npm ci --global=false`), as they
//    are into a checkout that has no node_modules yet.
// package.json bundles one small dependency (commander) for this: npm extracts a package with
// bundled dependencies before its dependencies, so none of them is written into the directory
// while the symlink is there. See README "Install".

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** The environment without the npm settings that would make a nested npm install globally. */
function localEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^npm_config_(global|location|prefix)$/i.test(k)) delete env[k];
  }
  return env;
}

// npm's git clones live in its cache: <cache>/_cacache/tmp/git-clone*. Elsewhere (a checkout
// installed with `npm install -g <dir>`) the global symlink to this directory is the install.
const inGitClone = /^git-clone/.test(path.basename(root)) && path.basename(path.dirname(root)) === 'tmp' && path.basename(path.dirname(path.dirname(root))) === '_cacache';

if (inGitClone && process.env.npm_config_global === 'true' && process.env.npm_config_prefix) {
  const prefix = process.env.npm_config_prefix;
  const installed = process.platform === 'win32' ? path.join(prefix, 'node_modules', pkg.name) : path.join(prefix, 'lib', 'node_modules', pkg.name);
  let st = null;
  try {
    st = fs.lstatSync(installed);
  } catch {
    /* not there */
  }
  if (st?.isSymbolicLink() && fs.realpathSync(installed) === fs.realpathSync(root)) {
    fs.unlinkSync(installed);
    fs.mkdirSync(installed);
  }
}

const require = createRequire(path.join(root, 'package.json'));
let haveTsc = true;
try {
  require.resolve('typescript/bin/tsc');
  require.resolve('@types/node/package.json');
  require.resolve('esbuild');
} catch {
  haveTsc = false;
}
// `npm ci --omit=dev` in a built checkout (the Dockerfile's runtime dependencies): no compiler
// wanted, and the compiled code is there.
const omitDev = (process.env.npm_config_omit ?? '').split(/\s+/).includes('dev');
if (!haveTsc && omitDev && !inGitClone) {
  if (fs.existsSync(path.join(root, 'dist', 'bundle', 'main.js'))) process.exit(0);
  console.error('prepare: dist/bundle is not built and dev dependencies are omitted; run `npm ci` first');
  process.exit(1);
}
if (!haveTsc) {
  // A checkout without its dependencies: the build tools, and what a linked checkout runs with.
  run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--include=dev', '--no-audit', '--no-fund', '--global=false'], localEnv());
}

fs.rmSync(path.join(root, 'dist', 'src'), { recursive: true, force: true });
fs.rmSync(path.join(root, 'dist', 'bundle'), { recursive: true, force: true });
run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')]);
run(process.execPath, [path.join(root, 'scripts', 'bundle.js')]);
