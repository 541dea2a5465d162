import net from 'node:net';
import type { ListenerContext } from '../listener-context.js';
import { PbServerLink } from './link.js';
import { TrackedServer } from '../tracked-server.js';

/**
 * The PB port of the test master (`c['protocols']['pb']['port']`, `docs/protocol/pb.md`
 * §1): a TCP server; each accepted connection gets its own PbServerLink, which sends the
 * dialect offer at once and serves the login portal.
 */
export class PbListener {
  private readonly server: TrackedServer;

  private constructor(
    server: net.Server,
    private readonly ctx: ListenerContext,
  ) {
    this.server = new TrackedServer(server);
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listen on `host:port` (0 = ephemeral). */
  static async listen(host: string, port: number, ctx: ListenerContext): Promise<PbListener> {
    const listener = new PbListener(net.createServer(), ctx);
    await listener.server.listen(host, port);
    return listener;
  }

  get port(): number {
    return this.server.port;
  }

  /** Stop listening and drop every connection. */
  close(): Promise<void> {
    return this.server.close();
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    new PbServerLink(socket, this.ctx).start();
  }
}
