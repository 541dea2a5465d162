import fs from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../../util/package-root.js';

/** The status page's files, from `www/` at the package root, so the installed package serves them without copying from src. */
export const WWW_DIR = packagePath('www');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The file for a URL path (`/` → index.html), or undefined outside WWW_DIR or of an unknown type. */
export async function readStatic(urlPath: string, root = WWW_DIR): Promise<{ body: Buffer; type: string } | undefined> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (rel === '/' || rel === '') rel = '/index.html';
  const file = path.resolve(root, '.' + rel);
  if (!file.startsWith(root + path.sep)) return undefined;
  const type = TYPES[path.extname(file)];
  if (!type) return undefined;
  try {
    return { body: await fs.readFile(file), type };
  } catch {
    return undefined;
  }
}
