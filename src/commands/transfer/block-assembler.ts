/**
 * Cuts a stream of chunks of any size into blocks of exactly `blockSize` bytes (the last
 * one may be shorter). Each block is a fresh buffer, so it may be handed to a remote
 * writer that keeps it until the write is answered.
 */
export class BlockAssembler {
  private current: Buffer;
  private filled = 0;

  constructor(private readonly blockSize: number) {
    this.current = Buffer.allocUnsafe(blockSize);
  }

  /** The full blocks that `chunk` completes. */
  push(chunk: Uint8Array): Buffer[] {
    const blocks: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.blockSize - this.filled, chunk.length - offset);
      this.current.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.blockSize) {
        blocks.push(this.current);
        this.current = Buffer.allocUnsafe(this.blockSize);
        this.filled = 0;
      }
    }
    return blocks;
  }

  /** The last, partial block, if any. */
  flush(): Buffer | undefined {
    if (this.filled === 0) return undefined;
    const last = this.current.subarray(0, this.filled);
    this.current = Buffer.allocUnsafe(0);
    this.filled = 0;
    return last;
  }
}
