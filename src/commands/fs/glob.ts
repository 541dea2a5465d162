import type { Command, CommandArgs, CommandContext } from '../context.js';
import { requireArgs, stringArg } from '../args.js';
import { reportOsFailure } from './report.js';

/** `glob` (Python `GlobPath`): `('files', glob.glob(path, recursive=True))`, then rc 0. */
export function globCommand(args: CommandArgs): Command {
  requireArgs('GlobPath', args, ['path']);
  const path = stringArg('GlobPath', args, 'path');
  return {
    async run(ctx: CommandContext): Promise<void> {
      let files: string[];
      try {
        const { pythonGlob } = await import('./python-glob.js');
        files = await pythonGlob(path);
      } catch (err) {
        reportOsFailure(ctx, 'glob', path, err);
        return;
      }
      ctx.status('files', files);
      ctx.status('rc', 0);
    },
  };
}
