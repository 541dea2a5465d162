import fs from 'node:fs';

/**
 * Blank variables in the process's initial environment block, the bytes that
 * /proc/<pid>/environ shows for the whole life of the process. Deleting a variable from
 * `process.env` (unsetenv) only drops the pointer to it: the text, such as WORKERPASS's
 * password, stays readable there by every process of the same user — the worker's own
 * build steps included. Node cannot re-exec itself in place (no execve before Node 23),
 * so the block is overwritten through /proc/self/mem, as setproctitle does with argv.
 * The variables must already be unset: nothing references their bytes any more.
 *
 * Returns the names blanked; an empty list where that is impossible (not Linux, a kernel
 * that forbids writing /proc/self/mem): callers then warn and point to WORKERPASS_FILE.
 */
export function blankInitialEnvironment(names: readonly string[]): string[] {
  if (process.platform !== 'linux' || names.length === 0) return [];
  let fd: number | undefined;
  try {
    // proc(5): env_start and env_end are fields 50 and 51 of /proc/self/stat; fields after
    // the command name (which may hold spaces) start at field 3.
    const stat = fs.readFileSync('/proc/self/stat', 'latin1');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .trim()
      .split(' ');
    const start = Number(fields[50 - 3]);
    const end = Number(fields[51 - 3]);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start || end - start > 16 * 1024 * 1024) return [];
    fd = fs.openSync('/proc/self/mem', 'r+');
    const block = Buffer.alloc(end - start);
    fs.readSync(fd, block, 0, block.length, start);
    const wanted = new Set(names);
    const blanked: string[] = [];
    for (let at = 0; at < block.length;) {
      let nul = block.indexOf(0, at);
      if (nul < 0) nul = block.length;
      const eq = block.indexOf(0x3d, at);
      if (eq > at && eq < nul && wanted.has(block.toString('latin1', at, eq))) {
        // Only the value, so the block still parses: NAME= followed by empty entries.
        const blank = Buffer.alloc(nul - eq - 1);
        if (blank.length > 0) fs.writeSync(fd, blank, 0, blank.length, start + eq + 1);
        blanked.push(block.toString('latin1', at, eq));
      }
      at = nul + 1;
    }
    return blanked;
  } catch {
    return [];
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
