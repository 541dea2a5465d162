import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p` that always ends. Node's `mkdir(p, {recursive: true})` spins forever on
 * paths where mkdir answers ENOENT although the parent exists (e.g. under /proc: libuv
 * creates the parent, gets EEXIST, retries the child, gets ENOENT, ...). A master can
 * send such a path, so directories are made one component at a time, each tried once.
 * Resolves to the first directory created, or undefined if it already existed.
 */
export async function makeDirs(dir: string): Promise<string | undefined> {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = path.dirname(p)) {
    const st = await stat(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', errno: -20, syscall: 'mkdir', path: p });
      break;
    }
    missing.push(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    await mkdir(p).catch(async (err: NodeJS.ErrnoException) => {
      // Someone else made it meanwhile: fine if it is a directory now.
      if (err.code === 'EEXIST' && (await stat(p)).isDirectory()) return;
      throw err;
    });
  }
  return missing[0];
}
