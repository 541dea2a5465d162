import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name in this package's package.json. */
export const PACKAGE_NAME = 'buildbot-worker-ts';

/**
 * The directory of this package (where package.json, bin/, www/ and info.example/ are),
 * found by walking up from this module's file. The same code runs from src/ (tests),
 * dist/src/ (compiled) and dist/bundle/ (what bin/worker.js loads, README.md "Install"), each
 * at its own depth, so no path counts `..`s.
 */
export function findPackageRoot(from: string): { dir: string; version: string } | undefined {
  let dir = path.dirname(from);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME) return { dir, version: typeof pkg.version === 'string' ? pkg.version : '0.0.0' };
    } catch {
      /* no package.json here, or not ours: look further up */
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

const found = findPackageRoot(fileURLToPath(import.meta.url));

/** This package's directory (the working directory if it cannot be found, which an installed package never hits). */
export const PACKAGE_ROOT: string = found?.dir ?? process.cwd();

/** The version in this package's package.json. */
export const PACKAGE_VERSION: string = found?.version ?? '0.0.0';

/** A path inside this package. */
export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
