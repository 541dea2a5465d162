/**
 * Incremental UTF-8 decoding of one output stream: a multi-byte character split across
 * two reads is decoded whole, invalid bytes become U+FFFD (Python's
 * `getincrementaldecoder('utf-8')(errors='replace')`, `runprocess.py`). The decoder holds
 * at most 3 bytes between calls.
 */
export class Utf8StreamDecoder {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  decode(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** The end of the stream: an incomplete trailing sequence becomes U+FFFD. */
  end(): string {
    return this.decoder.decode();
  }
}
