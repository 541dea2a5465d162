import type { CommandContext } from '../context.js';

/**
 * The end of every transfer, as the Python `TransferCommand.finished` sends it: the
 * explanation (if any) on stderr, then `rc` (0, or 1 for any failure). Python sends these
 * even after an interrupt, so they go out whatever happened before.
 */
export function finishTransfer(ctx: CommandContext, rc: number, stderr: string | undefined): void {
  if (stderr) ctx.output('stderr', `${stderr}\n`);
  ctx.status('rc', rc);
}

/** Python's texts for the failures a step author needs to recognise. */
export const maxsizeText = (path: string): string => `Maximum filesize reached, truncating file '${path}'`;

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
