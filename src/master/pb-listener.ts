import net from 'node:net';
import type { ListenerContext } from './msgpack-listener.js';
import { PbServerLink } from './pb-link.js';

/**
 * The PB port of the test master (`c['protocols']['pb']['port']`, `../shared/protocol/pb.md`
 * §1): a TCP server; each accepted connection gets its own PbServerLink, which sends the
 * dialect offer at once and serves the login portal.
 */
export class PbListener {
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly ctx: ListenerContext,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listen on `host:port` (0 = ephemeral). */
  static listen(host: string, port: number, ctx: ListenerContext): Promise<PbListener> {
    const server = net.createServer();
    const listener = new PbListener(server, ctx);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(listener);
      });
    });
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    new PbServerLink(socket, this.ctx).start();
  }
}
