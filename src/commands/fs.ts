import type { CommandFactory } from './context.js';
import { cpdirCommand } from './fs/cpdir.js';
import { globCommand } from './fs/glob.js';
import { listdirCommand } from './fs/listdir.js';
import { mkdirCommand } from './fs/mkdir.js';
import { rmdirCommand } from './fs/rmdir.js';
import { rmfileCommand } from './fs/rmfile.js';
import { statCommand } from './fs/stat.js';

export { cpdirCommand, globCommand, listdirCommand, mkdirCommand, rmdirCommand, rmfileCommand, statCommand };

/**
 * The file-system commands under the names the Python worker registers
 * (`commands/registry.py`); these names are the same on PB and msgpack.
 */
export const fsCommandFactories: Record<string, CommandFactory> = {
  mkdir: mkdirCommand,
  rmdir: rmdirCommand,
  cpdir: cpdirCommand,
  stat: statCommand,
  glob: globCommand,
  listdir: listdirCommand,
  rmfile: rmfileCommand,
};
