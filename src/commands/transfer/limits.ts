/**
 * Size limits of file transfers. Twisted banana refuses strings longer than 640 KiB
 * (`SIZE_LIMIT` in twisted/spread/banana.py, see docs/protocol/pb.md §2.4), so no block sent
 * to or asked from the master may be larger, whatever `blocksize` the step asked for.
 */
export const MAX_TRANSFER_BLOCK_BYTES = 640 * 1024;

/**
 * Bytes of upload blocks sent but not yet acknowledged. The Python worker waits for each
 * block's answer before sending the next, which makes WAN uploads slow (#4517); a few
 * blocks in flight hide the round trip while keeping memory bounded.
 */
export const MAX_IN_FLIGHT_BYTES = 2 * 1024 * 1024;

/** The block size actually used for a requested `blocksize`. */
export function blockSizeFor(requested: number): number {
  return Math.max(1, Math.min(requested, MAX_TRANSFER_BLOCK_BYTES));
}
