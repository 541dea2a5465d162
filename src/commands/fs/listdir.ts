import { readdir } from 'node:fs/promises';
import type { Command, CommandArgs, CommandContext } from '../context.js';
import { requireArgs, stringArg } from '../args.js';
import { reportOsFailure } from './report.js';

/** `listdir` (Python `ListDir`): `('files', os.listdir(path))`, unsorted, no `.`/`..`. */
export function listdirCommand(args: CommandArgs): Command {
  requireArgs('ListDir', args, ['path']);
  const path = stringArg('ListDir', args, 'path');
  return {
    async run(ctx: CommandContext): Promise<void> {
      let names: string[];
      try {
        names = await readdir(path);
      } catch (err) {
        reportOsFailure(ctx, 'listdir', path, err);
        return;
      }
      ctx.status('files', names);
      ctx.status('rc', 0);
    },
  };
}
