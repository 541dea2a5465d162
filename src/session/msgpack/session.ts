import type { RawData, WebSocket } from 'ws';
import { ConnectionError, ERR, ProtocolError, WorkerError } from '../../errors.js';
import { connectWebSocket } from '../../transport/websocket.js';
import type { Session, SessionFactory, SessionOptions } from '../../worker/session.js';
import { WorkerOps } from './ops.js';
import { MsgpackPeer, type OpHandler } from '../../engine/msgpack/peer.js';
import { attachDeadlineMs } from '../deadlines.js';
import { SessionLifecycle } from '../lifecycle.js';
import { LivenessProbe, keepaliveTiming } from '../liveness.js';

/**
 * A worker's connection to a master over `msgpack_experimental_v7`
 * (`docs/protocol/msgpack.md`): the WebSocket upgrade carries the credentials (§1.1),
 * then the master drives everything (§4) and the worker answers its ops (§3) and sends
 * its own requests for running commands (§6). Unlike the Python worker, WebSocket pings
 * every `keepaliveSeconds` notice a half-open link (§11 leaves this to the worker).
 */

/** Ops that only come once the master has attached the worker (§4: settings, then commands). */
const ATTACHED_OPS: ReadonlySet<string> = new Set(['set_worker_settings', 'start_command']);

const OPEN = 1;

export const createMsgpackSession: SessionFactory = async (opts, signal) => {
  const ws = await connectWebSocket({ transport: opts.transport, path: opts.path, username: opts.workername, password: opts.password }, signal);
  return runMsgpackSession(ws, opts, signal);
};

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Serve the master over an open WebSocket (what `createMsgpackSession` does after the
 * upgrade; `ws` may be paused, it is resumed once the listeners are in place).
 */
export function runMsgpackSession(ws: WebSocket, opts: SessionOptions, signal?: AbortSignal): Session {
  const { clock, handlers } = opts;
  const log = opts.log.child({ protocol: 'msgpack' });

  const life = new SessionLifecycle({
    clock,
    log,
    signal,
    terminate: () => ws.terminate(),
    gracefulClose: () => ws.close(1000),
    onEnd: (reason) => {
      peer.connectionLost(reason ?? new ConnectionError('Connection lost', ERR.CONNECTION_CLOSED));
      try {
        handlers.connectionLost();
      } catch (err) {
        log.error({ err }, 'connectionLost handler failed');
      }
    },
  });
  const close = (reason?: Error): void => life.close(reason);

  const ops: WorkerOps = new WorkerOps({
    handlers,
    log,
    peer: (): MsgpackPeer => peer,
    afterShutdownResponse: (fn) =>
      queueMicrotask(() => {
        try {
          fn();
        } catch (err) {
          log.error({ err }, 'shutdown handler failed');
        }
      }),
  });
  const attachedWhen =
    (op: string, handler: OpHandler): OpHandler =>
    (msg) => {
      if (life.attached()) log.debug({ op }, 'attached by the master');
      return handler(msg);
    };
  const table = Object.fromEntries(Object.entries(ops.table).map(([op, h]) => [op, ATTACHED_OPS.has(op) ? attachedWhen(op, h) : h]));
  const peer: MsgpackPeer = new MsgpackPeer({
    log,
    handlers: table,
    role: 'worker',
    strictness: 'tolerate',
    send: (payload) => {
      if (!life.ended && ws.readyState === OPEN) ws.send(payload, { binary: true, compress: false });
    },
  });

  // WebSocket pings (§1.2, §11: Autobahn answers them; the master never pings); anything
  // from the master proves the link alive.
  const liveness = new LivenessProbe({
    clock,
    ...keepaliveTiming(opts.keepaliveSeconds),
    what: 'a WebSocket ping',
    onTimeout: (err) => close(err),
    send: () => {
      try {
        ws.ping();
      } catch (err) {
        close(new ConnectionError(`cannot send a WebSocket ping: ${(err as Error).message}`, ERR.WEBSOCKET, { cause: err }));
      }
    },
  });
  life.onEnded(() => liveness.stop());

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (life.ended) return;
    liveness.heard();
    if (!isBinary) {
      // §1.2: both peers ignore text frames.
      log.warn('text frame from the master ignored (msgpack uses binary frames only)');
      return;
    }
    try {
      peer.receive(toBuffer(data));
    } catch (err) {
      close(err instanceof WorkerError ? err : new ProtocolError(`cannot handle a message from the master: ${(err as Error).message}`, ERR.MSGPACK, { cause: err }));
    }
  });
  ws.on('pong', () => liveness.heard());
  ws.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      close(new ProtocolError(`the master sent a message larger than the limit: ${err.message}`, ERR.MESSAGE_TOO_BIG, { cause: err }));
    } else {
      close(new ConnectionError(`WebSocket error: ${err.message}`, ERR.WEBSOCKET, { cause: err }));
    }
  });
  ws.on('close', (code: number) => {
    life.linkClosed();
    close(new ConnectionError(`the master closed the connection (WebSocket code ${code})`, ERR.CONNECTION_CLOSED));
  });

  const session: Session = {
    closed: life.closed,
    async requestShutdown() {
      // §6: msgpack has no worker-initiated shutdown request.
      log.warn('msgpack_experimental_v7 has no way to ask the master for a shutdown');
      return false;
    },
    close,
  };

  life.watchAbort();
  liveness.start();
  life.attachDeadline(attachDeadlineMs(opts.keepaliveSeconds), 'the master did not attach this worker');
  log.info({ workername: opts.workername }, 'connected to the master');
  if (ws.isPaused) ws.resume();
  return session;
}
