import { stat } from 'node:fs/promises';
import { makeDirs as makeDirsWithParents } from '../../util/make-dirs.js';
import type { Command, CommandArgs, CommandContext } from '../context.js';
import { pathListArg, requireArgs } from '../args.js';
import { reportOsFailure } from './report.js';

/** `mkdir` (Python `MakeDirectory`): create every path in `paths` with its parents. */
export function mkdirCommand(args: CommandArgs): Command {
  requireArgs('MakeDirectory', args, ['paths']);
  const paths = pathListArg('MakeDirectory', args, 'paths');
  return {
    async run(ctx: CommandContext): Promise<void> {
      for (const dir of paths) {
        try {
          await makeDirs(dir);
        } catch (err) {
          reportOsFailure(ctx, 'mkdir', dir, err);
          return;
        }
      }
      ctx.status('rc', 0);
    },
  };
}

/** Python `os.makedirs` after an `isdir` check: an existing non-directory is EEXIST. */
async function makeDirs(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (st?.isDirectory()) return;
  if (st) throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${dir}'`), { code: 'EEXIST', errno: -17 });
  await makeDirsWithParents(dir);
}
