import { readFileSync } from 'node:fs';

/**
 * The worker's version, reported by `getVersion`, in `getWorkerInfo` and by `--version`:
 * the package version, read once from package.json (found relative to this file both in
 * src/ and in dist/src/).
 */
function readVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'buildbot-worker-ts' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* try the next candidate */
    }
  }
  return '0.0.0';
}

export const WORKER_VERSION: string = readVersion();
