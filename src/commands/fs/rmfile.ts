import { unlink } from 'node:fs/promises';
import type { Command, CommandArgs, CommandContext } from '../context.js';
import { requireArgs, stringArg } from '../args.js';
import { reportOsFailure } from './report.js';

/** `rmfile` (Python `RemoveFile`): `os.remove(path)`; a directory is refused like Python does. */
export function rmfileCommand(args: CommandArgs): Command {
  requireArgs('RemoveFile', args, ['path']);
  const path = stringArg('RemoveFile', args, 'path');
  return {
    async run(ctx: CommandContext): Promise<void> {
      try {
        await unlink(path);
      } catch (err) {
        reportOsFailure(ctx, 'rmfile', path, err);
        return;
      }
      ctx.status('rc', 0);
    },
  };
}
