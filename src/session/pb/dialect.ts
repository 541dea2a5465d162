import { ProtocolError } from '../../errors.js';
import { BananaDecoder, encodeBanana, type Dialect, type SExp } from '../../protocol/banana.js';

/**
 * Banana dialect negotiation, client side (`../shared/protocol/pb.md` §2.6): the server
 * opens with the list of dialects it knows, the client answers with its choice as a bare
 * byte string, and both switch to it. Everything after that is PB expressions.
 */

/** Dialects this client speaks, in order of preference. */
export const CLIENT_DIALECTS: readonly Dialect[] = ['pb', 'none'];

/** Pick our dialect from the server's offer; ProtocolError if the offer is malformed or has none we speak. */
export function chooseDialect(offer: SExp): Dialect {
  if (!Array.isArray(offer) || !offer.every((d) => d instanceof Uint8Array)) {
    throw new ProtocolError('the server did not open with a banana dialect list', 'ERR_PB_DIALECT');
  }
  const offered = offer.map((d) => Buffer.from(d as Uint8Array).toString('latin1'));
  for (const mine of CLIENT_DIALECTS) {
    if (offered.includes(mine)) return mine;
  }
  throw new ProtocolError(`the server offers no dialect this worker speaks (${offered.join(', ')})`, 'ERR_PB_DIALECT');
}

export interface ClientFramingOptions {
  /** Write raw bytes to the server. */
  write: (bytes: Uint8Array) => void;
  /** The dialect is agreed: the PB conversation may start (send the version, log in). */
  onNegotiated: (dialect: Dialect) => void;
  /** One top-level expression from the server, after negotiation. */
  onExpression: (expr: SExp) => void;
}

/**
 * The byte stream of a PB client connection: negotiates the dialect, then decodes
 * incoming expressions and encodes outgoing ones in it. `receive` throws ProtocolError
 * (or the decoder's banana error) when the stream is unusable; the caller drops the link.
 */
export class ClientFraming {
  private readonly decoder = new BananaDecoder('none');
  private agreed: Dialect | undefined;

  constructor(private readonly opts: ClientFramingOptions) {}

  get dialect(): Dialect | undefined {
    return this.agreed;
  }

  receive(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    for (;;) {
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

  private negotiate(offer: SExp): void {
    const dialect = chooseDialect(offer);
    // The choice itself still goes out with no dialect active (no vocabulary).
    this.opts.write(encodeBanana(Buffer.from(dialect, 'latin1'), 'none'));
    this.agreed = dialect;
    this.decoder.dialect = dialect;
    this.opts.onNegotiated(dialect);
  }
}
