import { ERR, ProtocolError } from '../errors.js';
import { BananaDecoder, DIALECT_MESSAGE_BUDGET, MESSAGE_BUDGET, encodeBanana, type Dialect, type SExp } from './banana.js';

/**
 * A banana byte stream with dialect negotiation (`docs/protocol/pb.md` §2.6): the
 * first expression each way goes out with no dialect active; once the dialect is agreed,
 * every expression is decoded and encoded in it. Client and server differ only in how
 * they agree (`negotiate`); the stream handling is the same for both.
 */

export interface BananaFramingOptions {
  /** Write raw bytes to the peer. */
  write: (bytes: Uint8Array) => void;
  /** The dialect is agreed: the PB conversation may start. */
  onNegotiated: (dialect: Dialect) => void;
  /** One top-level expression from the peer, after negotiation. */
  onExpression: (expr: SExp) => void;
}

export abstract class BananaFraming {
  // The first expression is only a dialect offer or choice: a tiny budget until it is agreed.
  private readonly decoder = new BananaDecoder('none', DIALECT_MESSAGE_BUDGET);
  private agreed: Dialect | undefined;

  constructor(protected readonly opts: BananaFramingOptions) {}

  get dialect(): Dialect | undefined {
    return this.agreed;
  }

  /**
   * Feed bytes from the peer. Throws ProtocolError (or the decoder's error) when the
   * stream is unusable; the caller then drops the connection.
   */
  receive(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    for (;;) {
      // The choice and the first PB expressions usually share one TCP chunk (capture #11–#13),
      // so the decoder must switch dialect between two expressions of the same chunk.
      const expr = this.decoder.next();
      if (expr === undefined) return;
      if (this.agreed === undefined) this.agree(this.negotiate(expr));
      else this.opts.onExpression(expr);
    }
  }

  /** Encode and write one expression in the agreed dialect. */
  send(expr: SExp): void {
    if (this.agreed === undefined) throw new ProtocolError('cannot send PB messages before the dialect is agreed', ERR.PB_DIALECT);
    this.opts.write(encodeBanana(expr, this.agreed));
  }

  /**
   * Settle the dialect from the peer's first expression (writing any answer with no
   * dialect active); ProtocolError when no dialect can be agreed.
   */
  protected abstract negotiate(first: SExp): Dialect;

  private agree(dialect: Dialect): void {
    this.agreed = dialect;
    this.decoder.dialect = dialect;
    this.decoder.budget = MESSAGE_BUDGET;
    this.opts.onNegotiated(dialect);
  }
}
