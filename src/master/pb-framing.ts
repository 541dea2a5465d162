import { ProtocolError } from '../errors.js';
import { BananaDecoder, encodeBanana, type Dialect, type SExp } from '../protocol/banana.js';

/**
 * Banana dialect negotiation, server side (`../shared/protocol/pb.md` §2.6): on accept the
 * server sends the dialects it knows, with no dialect active; the client's first
 * expression is its choice as a bare byte string; a choice that was not offered closes the
 * connection. Everything after that is PB expressions in the chosen dialect.
 */

/** What the Twisted PB server offers, in its order. */
export const SERVER_DIALECTS: readonly Dialect[] = ['pb', 'none'];

export interface ServerFramingOptions {
  /** Write raw bytes to the client. */
  write: (bytes: Uint8Array) => void;
  /** The client chose `dialect`: the PB conversation starts (send the version). */
  onNegotiated: (dialect: Dialect) => void;
  /** One top-level expression from the client, after negotiation. */
  onExpression: (expr: SExp) => void;
}

export class ServerFraming {
  private readonly decoder = new BananaDecoder('none');
  private agreed: Dialect | undefined;
  private offered = false;

  constructor(private readonly opts: ServerFramingOptions) {}

  get dialect(): Dialect | undefined {
    return this.agreed;
  }

  /** Send the dialect offer; the server speaks first, right after accept. */
  offer(): void {
    if (this.offered) return;
    this.offered = true;
    this.opts.write(encodeBanana(SERVER_DIALECTS.map((d) => Buffer.from(d, 'latin1')), 'none'));
  }

  /**
   * Feed bytes from the client. Throws ProtocolError (or the decoder's error) when the
   * stream is unusable; the caller then drops the connection.
   */
  receive(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    for (;;) {
      // The choice and the first PB expressions usually share one TCP chunk (capture #11–#13),
      // so the decoder must switch dialect between two expressions of the same chunk.
      const expr = this.decoder.next();
      if (expr === undefined) return;
      if (this.agreed === undefined) this.negotiate(expr);
      else this.opts.onExpression(expr);
    }
  }

  /** Encode and write one expression in the agreed dialect. */
  send(expr: SExp): void {
    if (this.agreed === undefined) throw new ProtocolError('cannot send PB messages before the dialect is agreed', 'ERR_PB_DIALECT');
    this.opts.write(encodeBanana(expr, this.agreed));
  }

  private negotiate(choice: SExp): void {
    if (!(choice instanceof Uint8Array)) {
      throw new ProtocolError('the client did not answer the dialect offer with a byte string', 'ERR_PB_DIALECT');
    }
    const name = Buffer.from(choice).toString('latin1');
    const dialect = SERVER_DIALECTS.find((d) => d === name);
    if (dialect === undefined) throw new ProtocolError(`the client chose a dialect that was not offered: ${JSON.stringify(name)}`, 'ERR_PB_DIALECT');
    this.agreed = dialect;
    this.decoder.dialect = dialect;
    this.opts.onNegotiated(dialect);
  }
}
