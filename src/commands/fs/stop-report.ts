import type { CommandContext } from '../context.js';
import type { StopReason } from './watchdog.js';

/**
 * What rmdir/cpdir report when their watchdog stopped them, worded after the Python
 * worker's RunProcess ("command timed out: 120 seconds without output ...") with the
 * same `failure_reason` values, and rc -1 as for a killed process.
 */
export function reportStopped(ctx: CommandContext, command: string, doing: string, reason: StopReason): void {
  switch (reason.kind) {
    case 'timeout':
      ctx.output('header', `${command}: command timed out: ${reason.seconds} seconds without progress ${doing}\n`);
      ctx.status('failure_reason', reason.failureReason);
      break;
    case 'maxTime':
      ctx.output('header', `${command}: command timed out: ${reason.seconds} seconds elapsed ${doing}\n`);
      ctx.status('failure_reason', reason.failureReason);
      break;
    case 'interrupted':
      ctx.output('header', `${command}: interrupted (${reason.why}) ${doing}\n`);
      break;
  }
  ctx.status('rc', -1);
}
