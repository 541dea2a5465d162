import fs from 'node:fs';
import path from 'node:path';
import { TAC_MARKER } from '../config/tac-template.js';
import type { Print } from './output.js';

/**
 * Python's `scripts/base.py isWorkerDir`: the basedir must hold a readable buildbot.tac that
 * contains `Application('buildbot-worker')`; otherwise print why and refuse.
 */
export function isWorkerDir(dir: string, print: Print): boolean {
  const tac = path.join(dir, 'buildbot.tac');
  const fail = (msg: string) => {
    print(`${msg}\ninvalid worker directory '${dir}'`);
    return false;
  };
  let contents: string;
  try {
    contents = fs.readFileSync(tac, 'utf8');
  } catch (err) {
    return fail(`error reading '${tac}': ${strerror(err)}`);
  }
  if (!contents.includes(TAC_MARKER)) return fail(`unexpected content in '${tac}'`);
  return true;
}

/** Python's `strerror` text for the common errno codes. */
export function strerror(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    EEXIST: 'File exists',
    ENOSPC: 'No space left on device',
    EROFS: 'Read-only file system',
  };
  return (code && known[code]) || (err as Error).message;
}
