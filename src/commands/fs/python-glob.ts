import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { fnmatchRegExp } from '../../util/fnmatch.js';

/**
 * Python's `glob.glob(pattern, recursive=True)` (3.11, POSIX): `*`, `?` and `[...]`
 * match within one component, a whole component `**` matches any number of directories
 * (yielding the directory itself with a trailing "/"), names starting with "." are only
 * matched by pattern components that start with ".", a pattern ending in "/" matches
 * directories only, and results are spelled the way the pattern spells its literal parts.
 * Unreadable directories are skipped silently, as in Python.
 *
 * Two deliberate differences: `x/**` yields nothing when `x` is not a directory (Python
 * yields "x/"), and `**` does not follow a symbolic link back into one of its own
 * ancestors (Python recurses until the kernel reports ELOOP).
 */
export async function pythonGlob(pattern: string): Promise<string[]> {
  const results: string[] = [];
  for await (const path of iglob(pattern, false)) results.push(path);
  return results;
}

const MAGIC = /[*?[]/;
const hasMagic = (s: string): boolean => MAGIC.test(s);
const isHidden = (name: string): boolean => name.startsWith('.');
const isRecursive = (component: string): boolean => component === '**';

/** posixpath.split */
function split(p: string): [string, string] {
  const i = p.lastIndexOf('/') + 1;
  let head = p.slice(0, i);
  const tail = p.slice(i);
  if (head && !/^\/+$/.test(head)) head = head.replace(/\/+$/, '');
  return [head, tail];
}

/** posixpath.join of two parts */
function join(a: string, b: string): string {
  if (b.startsWith('/')) return b;
  if (a === '' || a.endsWith('/')) return a + b;
  return `${a}/${b}`;
}

async function lexists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function* iglob(pattern: string, dironly: boolean): AsyncGenerator<string> {
  const [dirname, basename] = split(pattern);
  if (!hasMagic(pattern)) {
    if (basename ? await lexists(pattern) : await isDir(dirname)) yield pattern;
    return;
  }
  const inDir = !hasMagic(basename) ? glob0 : isRecursive(basename) ? glob2 : glob1;
  if (!dirname) {
    for await (const name of inDir('', basename, dironly)) yield name;
    return;
  }
  const dirs: AsyncIterable<string> | string[] = dirname !== pattern && hasMagic(dirname) ? iglob(dirname, true) : [dirname];
  for await (const dir of dirs) {
    for await (const name of inDir(dir, basename, dironly)) yield join(dir, name);
  }
}

interface Entry {
  name: string;
  symlink: boolean;
  /** False when the entry surely has no children to list. */
  container: boolean;
}

/** The names in `dir` (the current directory when empty); only directories when `dironly`. */
async function listdir(dir: string, dironly: boolean): Promise<Entry[]> {
  let dirents;
  try {
    dirents = await readdir(dir || '.', { withFileTypes: true });
  } catch {
    return [];
  }
  const entries: Entry[] = [];
  for (const d of dirents) {
    const symlink = d.isSymbolicLink();
    if (dironly && !d.isDirectory() && !(symlink && (await isDir(join(dir, d.name))))) continue;
    entries.push({ name: d.name, symlink, container: d.isDirectory() || symlink });
  }
  return entries;
}

async function* glob0(dir: string, basename: string): AsyncGenerator<string> {
  if (basename ? await lexists(join(dir, basename)) : await isDir(dir || '.')) yield basename;
}

async function* glob1(dir: string, pattern: string, dironly: boolean): AsyncGenerator<string> {
  const re = fnmatchRegExp(pattern);
  const showHidden = isHidden(pattern);
  for (const { name } of await listdir(dir, dironly)) {
    if ((showHidden || !isHidden(name)) && re.test(name)) yield name;
  }
}

async function* glob2(dir: string, _pattern: string, dironly: boolean): AsyncGenerator<string> {
  if (!(await isDir(dir || '.'))) return;
  yield '';
  const root = await realpath(dir || '.').catch(() => undefined);
  yield* rlistdir(dir, dironly, root, new Set(root ? [root] : []));
}

/** Every non-hidden name below `dir`, depth first, as paths relative to `dir`. */
async function* rlistdir(dir: string, dironly: boolean, real: string | undefined, ancestors: Set<string>): AsyncGenerator<string> {
  for (const { name, symlink, container } of await listdir(dir, dironly)) {
    if (isHidden(name)) continue;
    yield name;
    if (!container) continue;
    const path = join(dir, name);
    let childReal: string | undefined;
    if (symlink) childReal = await realpath(path).catch(() => undefined);
    else if (real !== undefined) childReal = join(real, name);
    if (childReal !== undefined && ancestors.has(childReal)) continue;
    if (childReal !== undefined) ancestors.add(childReal);
    for await (const sub of rlistdir(path, dironly, childReal, ancestors)) yield join(name, sub);
    if (childReal !== undefined) ancestors.delete(childReal);
  }
}
