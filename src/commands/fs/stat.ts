import { stat } from 'node:fs/promises';
import type { Command, CommandArgs, CommandContext } from '../context.js';
import { PyTuple, type PyValue } from '../../values.js';
import { requireArgs, stringArg } from '../args.js';
import { reportOsFailure } from './report.js';

const NS_PER_SECOND = 1_000_000_000n;

/** A bigint field as a plain number when exact, so codecs send a normal int. */
function int(value: bigint): PyValue {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/**
 * `stat` (Python `StatFile`): sends `('stat', tuple(os.stat(path)))`, i.e. mode, ino, dev,
 * nlink, uid, gid, size, atime, mtime, ctime as integers (times in whole seconds).
 * Python never checks `path` (its `requireArgs` typo); a missing path is refused here.
 */
export function statCommand(args: CommandArgs): Command {
  requireArgs('StatFile', args, ['path']);
  const path = stringArg('StatFile', args, 'path');
  return {
    async run(ctx: CommandContext): Promise<void> {
      let st;
      try {
        // bigint: inode and device numbers can exceed 2**53.
        st = await stat(path, { bigint: true });
      } catch (err) {
        reportOsFailure(ctx, 'stat', path, err);
        return;
      }
      ctx.status(
        'stat',
        new PyTuple([
          int(st.mode),
          int(st.ino),
          int(st.dev),
          int(st.nlink),
          int(st.uid),
          int(st.gid),
          int(st.size),
          int(st.atimeNs / NS_PER_SECOND),
          int(st.mtimeNs / NS_PER_SECOND),
          int(st.ctimeNs / NS_PER_SECOND),
        ]),
      );
      ctx.status('rc', 0);
    },
  };
}
