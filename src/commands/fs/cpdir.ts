import { stat } from 'node:fs/promises';
import { makeDirs } from '../../util/make-dirs.js';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { Command, CommandArgs, CommandContext } from '../context.js';
import { requireArgs, secondsArg, stringArg } from '../args.js';
import { osErrorOf } from './os-error.js';
import { DEFAULT_FS_TIMEOUT_SECONDS } from './rmdir.js';
import { reportStopped } from './stop-report.js';
import { StoppedError, Watchdog } from './watchdog.js';

/**
 * `cpdir` (Python `CopyDirectory`, which runs `cp -R -P -p -v from to`): the parent of
 * `to_path` is created, links are copied as links, modes and times are kept, and each
 * copied entry is logged like `cp -v` does (`'from' -> 'to'`). As with cp, an existing
 * directory `to_path` receives a copy named after `from_path` inside it. rc is 0, or 1
 * (cp's status) when something could not be copied.
 */
export function cpdirCommand(args: CommandArgs): Command {
  requireArgs('CopyDirectory', args, ['to_path', 'from_path']);
  const from = stringArg('CopyDirectory', args, 'from_path');
  const to = stringArg('CopyDirectory', args, 'to_path');
  const timeout = secondsArg('CopyDirectory', args, 'timeout', DEFAULT_FS_TIMEOUT_SECONDS);
  const maxTime = secondsArg('CopyDirectory', args, 'maxTime', null);
  return {
    async run(ctx: CommandContext): Promise<void> {
      ctx.output('header', `cpdir ${from} ${to}\n`);
      let target = to;
      try {
        await makeDirs(dirname(to));
        if ((await stat(to).catch(() => undefined))?.isDirectory()) target = join(to, basename(from));
      } catch (err) {
        const os = osErrorOf(err);
        if (!os) throw err;
        ctx.output('stderr', `cp: cannot create directory '${dirname(to)}': ${os.strerror}\n`);
        ctx.status('rc', 1);
        return;
      }
      if ((resolve(target) + sep).startsWith(resolve(from) + sep)) {
        ctx.output('stderr', `cp: cannot copy a directory, '${from}', into itself, '${target}'\n`);
        ctx.status('rc', 1);
        return;
      }
      const watchdog = new Watchdog(ctx.clock, timeout, maxTime, ctx.signal);
      try {
        // Imported on first use, after the watchdog has started counting.
        const { copyTree } = await import('./copy-tree.js');
        const copied = await copyTree(from, target, {
          signal: watchdog.signal,
          onCopied: (src, dst) => {
            watchdog.progress();
            ctx.output('stdout', `'${src}' -> '${dst}'\n`);
          },
          onError: (path, what, e) => ctx.output('stderr', `cp: ${what} '${path}': ${typeof e === 'string' ? e : e.strerror}\n`),
        });
        ctx.status('rc', copied ? 0 : 1);
      } catch (err) {
        if (!(err instanceof StoppedError) || !watchdog.reason) throw err;
        reportStopped(ctx, 'cpdir', `copying ${from}`, watchdog.reason);
      } finally {
        watchdog.dispose();
      }
    },
  };
}
