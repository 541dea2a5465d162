import { ERR, ProtocolError } from '../../errors.js';
import { BananaFraming } from '../../protocol/banana-framing.js';
import { encodeBanana, type Dialect, type SExp } from '../../protocol/banana.js';

/**
 * Banana dialect negotiation, server side (`docs/protocol/pb.md` §2.6): on accept the
 * server sends the dialects it knows, with no dialect active; the client's first
 * expression is its choice as a bare byte string; a choice that was not offered closes the
 * connection. Everything after that is PB expressions in the chosen dialect.
 */

/** What the Twisted PB server offers, in its order. */
export const SERVER_DIALECTS: readonly Dialect[] = ['pb', 'none'];

export class ServerFraming extends BananaFraming {
  private offered = false;

  /** Send the dialect offer; the server speaks first, right after accept. */
  offer(): void {
    if (this.offered) return;
    this.offered = true;
    this.opts.write(
      encodeBanana(
        SERVER_DIALECTS.map((d) => Buffer.from(d, 'latin1')),
        'none',
      ),
    );
  }

  protected negotiate(choice: SExp): Dialect {
    if (!(choice instanceof Uint8Array)) {
      throw new ProtocolError('the client did not answer the dialect offer with a byte string', ERR.PB_DIALECT);
    }
    const name = Buffer.from(choice).toString('latin1');
    const dialect = SERVER_DIALECTS.find((d) => d === name);
    if (dialect === undefined) throw new ProtocolError(`the client chose a dialect that was not offered: ${JSON.stringify(name)}`, ERR.PB_DIALECT);
    return dialect;
  }
}
