import type net from 'node:net';

/**
 * A listening server of the test master that remembers its open sockets, so that
 * closing it also drops every connection (a plain `server.close` waits for them).
 * The PB port wraps a `net.Server`, the msgpack port an `http.Server`.
 */
export class TrackedServer {
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly server: net.Server) {
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Listen on `host:port` (0 = ephemeral); rejects with the server's error. */
  listen(host: string, port: number): Promise<void> {
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
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
}
