import { ERR, ProtocolError } from '../../errors.js';
import { BananaFraming } from '../../protocol/banana-framing.js';
import { encodeBanana, type Dialect, type SExp } from '../../protocol/banana.js';

/**
 * Banana dialect negotiation, client side (`docs/protocol/pb.md` §2.6): the server
 * opens with the list of dialects it knows, the client answers with its choice as a bare
 * byte string, and both switch to it. Everything after that is PB expressions.
 */

/** Dialects this client speaks, in order of preference. */
export const CLIENT_DIALECTS: readonly Dialect[] = ['pb', 'none'];

/** Pick our dialect from the server's offer; ProtocolError if the offer is malformed or has none we speak. */
export function chooseDialect(offer: SExp): Dialect {
  if (!Array.isArray(offer) || !offer.every((d) => d instanceof Uint8Array)) {
    throw new ProtocolError('the server did not open with a banana dialect list', ERR.PB_DIALECT);
  }
  const offered = offer.map((d) => Buffer.from(d as Uint8Array).toString('latin1'));
  for (const mine of CLIENT_DIALECTS) {
    if (offered.includes(mine)) return mine;
  }
  throw new ProtocolError(`the server offers no dialect this worker speaks (${offered.join(', ')})`, ERR.PB_DIALECT);
}

/**
 * The byte stream of a PB client connection: negotiates the dialect, then decodes
 * incoming expressions and encodes outgoing ones in it. `receive` throws ProtocolError
 * (or the decoder's banana error) when the stream is unusable; the caller drops the link.
 */
export class ClientFraming extends BananaFraming {
  protected negotiate(offer: SExp): Dialect {
    const dialect = chooseDialect(offer);
    // The choice itself still goes out with no dialect active (no vocabulary).
    this.opts.write(encodeBanana(Buffer.from(dialect, 'latin1'), 'none'));
    return dialect;
  }
}
