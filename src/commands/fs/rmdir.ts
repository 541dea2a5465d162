import type { Command, CommandArgs, CommandContext } from '../context.js';
import { pathListArg, requireArgs, secondsArg } from '../args.js';
import { reportStopped } from './stop-report.js';
import { StoppedError, Watchdog } from './watchdog.js';

/** Python's default `timeout` for rmdir and cpdir, in seconds. */
export const DEFAULT_FS_TIMEOUT_SECONDS = 120;

/**
 * `rmdir` (Python `RemoveDirectory`): removes each of `paths` like `rm -rf`, including
 * read-only files and directories inside them. A failure on one path does not stop the
 * others; the rc is 1 (rm's exit status) if anything could not be removed. `timeout`
 * (seconds without progress) and `maxTime` apply per path, as they did to each `rm`.
 */
export function rmdirCommand(args: CommandArgs): Command {
  requireArgs('RemoveDirectory', args, ['paths']);
  const paths = pathListArg('RemoveDirectory', args, 'paths');
  const timeout = secondsArg('RemoveDirectory', args, 'timeout', DEFAULT_FS_TIMEOUT_SECONDS);
  const maxTime = secondsArg('RemoveDirectory', args, 'maxTime', null);
  return {
    async run(ctx: CommandContext): Promise<void> {
      // Imported on first use; the watchdogs below start counting now, not after the import.
      const loading = import('./remove-tree.js');
      loading.catch(() => undefined); // awaited (and reported) below; never unhandled when unused
      let rc = 0;
      for (const path of paths) {
        ctx.output('header', `rmdir ${path}\n`);
        const watchdog = new Watchdog(ctx.clock, timeout, maxTime, ctx.signal);
        try {
          const { removeTree } = await loading;
          const removed = await removeTree(path, {
            signal: watchdog.signal,
            onRemoved: () => watchdog.progress(),
            onError: (p, e) => ctx.output('stderr', `rm: cannot remove '${p}': ${e.strerror}\n`),
          });
          if (!removed) rc = 1;
        } catch (err) {
          if (!(err instanceof StoppedError) || !watchdog.reason) throw err;
          reportStopped(ctx, 'rmdir', `removing ${path}`, watchdog.reason);
          return;
        } finally {
          watchdog.dispose();
        }
      }
      ctx.status('rc', rc);
    },
  };
}
