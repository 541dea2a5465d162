import type { CommandContext } from '../context.js';
import { osErrorOf } from './os-error.js';

/**
 * The Python fs commands' failure report: `header "<cmd>: <strerror>: <path>"` and
 * `rc = errno`. An error that is not an OS error is a bug and propagates, so the command
 * completes with a failure instead of a made-up rc.
 */
export function reportOsFailure(ctx: CommandContext, command: string, path: string, err: unknown): void {
  const os = osErrorOf(err);
  if (!os) throw err;
  ctx.log.debug({ commandId: ctx.commandId, path, code: os.code }, `${command} failed`);
  ctx.output('header', `${command}: ${os.strerror}: ${path}\n`);
  ctx.status('rc', os.errno);
}
