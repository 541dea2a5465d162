import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { WorkerInfo } from './handlers.js';

/** Largest info/ file or os-release file read; bigger ones are skipped with a warning. */
export const MAX_INFO_FILE_BYTES = 1024 * 1024;
/** At most this many info/ entries are looked at. */
export const MAX_INFO_FILES = 1000;

export interface WorkerInfoSources {
  basedir: string;
  /** `/etc/os-release` unless overridden (tests). */
  osReleaseFile: string;
  environ: Readonly<Record<string, string>>;
  /** From buildbot.tac; null means "count the CPUs". */
  numcpus: number | null;
  version: string;
  commands: Record<string, string>;
  deleteLeftoverDirs: boolean;
  /** `os.name` as Python reports it. */
  system?: 'posix' | 'nt';
  log: Logger;
}

/**
 * Parse os-release text like the Python worker (`base.py _read_os_release`): skip empty and
 * `#` lines, split on the first `=`, keep non-empty values as `os_<key lowercased>` with
 * `"` stripped from both ends. A line without `=` is skipped (Python would raise).
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[\r\n]+|[\r\n]+$/g, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const value = line.slice(eq + 1);
    if (value === '') continue;
    out[`os_${line.slice(0, eq).toLowerCase()}`] = value.replace(/^"+|"+$/g, '');
  }
  return out;
}

async function readBounded(file: string): Promise<Buffer | 'too-big'> {
  const handle = await fs.open(file, 'r');
  try {
    const st = await handle.stat();
    if (st.size > MAX_INFO_FILE_BYTES) return 'too-big';
    // Sized from the file (these are a few bytes each), not the limit: a zeroed 1 MiB
    // buffer per file was resident for the worker's whole life (bench/README.md, "Memory").
    let buf = Buffer.allocUnsafe(Math.max(st.size + 1, 4096));
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        // The file grew since stat: read on, up to one byte past the limit.
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_INFO_FILE_BYTES + 1));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, total, buf.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_INFO_FILE_BYTES) return 'too-big';
    }
    return Buffer.from(buf.subarray(0, total));
  } finally {
    await handle.close();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Every regular file of `<basedir>/info` as name → text; undecodable or huge files are logged and skipped. */
export async function readInfoFiles(basedir: string, log: Logger): Promise<Record<string, string>> {
  const dir = path.join(basedir, 'info');
  const out: Record<string, string> = {};
  let names: string[];
  try {
    names = (await fs.readdir(dir)).sort();
  } catch {
    return out;
  }
  for (const name of names.slice(0, MAX_INFO_FILES)) {
    const file = path.join(dir, name);
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) continue;
      const data = await readBounded(file);
      if (data === 'too-big') {
        log.warn(`error while reading file: ${file}: larger than ${MAX_INFO_FILE_BYTES} bytes, not sent`);
        continue;
      }
      out[name] = utf8.decode(data);
    } catch (err) {
      log.warn({ err }, `error while reading file: ${file}`);
    }
  }
  return out;
}

/**
 * The `getWorkerInfo` / `get_worker_info` answer (`pb.md` §6.2, `msgpack.md` §3.1): info
 * files, `os_*`, then `environ`, `system`, `basedir`, `numcpus`, `version`,
 * `worker_commands`, `delete_leftover_dirs` — the later keys win, as in Python.
 */
export async function collectWorkerInfo(src: WorkerInfoSources): Promise<WorkerInfo> {
  const info: WorkerInfo = { ...(await readInfoFiles(src.basedir, src.log)) };
  try {
    const data = await readBounded(src.osReleaseFile);
    if (data !== 'too-big') Object.assign(info, parseOsRelease(data.toString('utf8')));
  } catch {
    /* no os-release: nothing to add, as in Python */
  }
  let numcpus = src.numcpus;
  if (!numcpus) {
    numcpus = os.availableParallelism();
    if (!(numcpus > 0)) {
      src.log.info('warning: could not detect the number of CPUs for this worker. Assuming 1 CPU.');
      numcpus = 1;
    }
  }
  info.environ = { ...src.environ };
  info.system = src.system ?? (process.platform === 'win32' ? 'nt' : 'posix');
  info.basedir = src.basedir;
  info.numcpus = numcpus;
  info.version = src.version;
  info.worker_commands = { ...src.commands };
  info.delete_leftover_dirs = src.deleteLeftoverDirs;
  return info;
}
