import type { RawData, WebSocket } from 'ws';
import { ConnectionError, ProtocolError, TimeoutError, WorkerError } from '../../errors.js';
import { connectWebSocket } from '../../transport/websocket.js';
import type { TimerHandle } from '../../util/clock.js';
import type { Session, SessionFactory, SessionOptions } from '../../worker/session.js';
import { WorkerOps } from './ops.js';
import { MsgpackPeer, type OpHandler } from '../../engine/msgpack/peer.js';
import { CLOSE_GRACE_MS, attachDeadlineMs, replyDeadlineMs } from '../deadlines.js';

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
  const ws = await connectWebSocket(
    { transport: opts.transport, path: opts.path, username: opts.workername, password: opts.password },
    signal,
  );
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
  let ended = false;
  let resolveClosed!: (reason: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((r) => (resolveClosed = r));
  let pingTimer: TimerHandle | undefined;
  let deadlineTimer: TimerHandle | undefined;
  let graceTimer: TimerHandle | undefined;
  let attachTimer: TimerHandle | undefined;

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
  const attachedWhen = (op: string, handler: OpHandler): OpHandler => (msg) => {
    if (attachTimer) log.debug({ op }, 'attached by the master');
    attachTimer?.cancel();
    attachTimer = undefined;
    return handler(msg);
  };
  const table = Object.fromEntries(Object.entries(ops.table).map(([op, h]) => [op, ATTACHED_OPS.has(op) ? attachedWhen(op, h) : h]));
  const peer: MsgpackPeer = new MsgpackPeer({
    log,
    handlers: table,
    send: (payload) => {
      if (!ended && ws.readyState === OPEN) ws.send(payload, { binary: true, compress: false });
    },
  });

  /** End the session once: fail what waits, tell the worker, resolve `closed`. */
  function finish(reason: Error | undefined): void {
    if (ended) return;
    ended = true;
    pingTimer?.cancel();
    deadlineTimer?.cancel();
    attachTimer?.cancel();
    signal?.removeEventListener('abort', onAbort);
    peer.connectionLost(reason ?? new ConnectionError('Connection lost', 'ERR_CONNECTION_CLOSED'));
    try {
      handlers.connectionLost();
    } catch (err) {
      log.error({ err }, 'connectionLost handler failed');
    }
    resolveClosed(reason);
  }

  /** Drop the link with `reason`; without one, close cleanly (Close frame, then destroy after a grace period). */
  function close(reason?: Error): void {
    if (ended) return;
    if (reason) log.warn({ err: reason }, 'closing the connection to the master');
    finish(reason);
    if (reason) {
      ws.terminate();
      return;
    }
    try {
      ws.close(1000);
    } catch {
      ws.terminate();
      return;
    }
    graceTimer = clock.setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
  }

  function onAbort(): void {
    close(new ConnectionError('session aborted', 'ERR_ABORTED'));
  }

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (ended) return;
    heardFromMaster();
    if (!isBinary) {
      // §1.2: both peers ignore text frames.
      log.warn('text frame from the master ignored (msgpack uses binary frames only)');
      return;
    }
    try {
      peer.receive(toBuffer(data));
    } catch (err) {
      close(err instanceof WorkerError ? err : new ProtocolError(`cannot handle a message from the master: ${(err as Error).message}`, 'ERR_MSGPACK', { cause: err }));
    }
  });
  ws.on('pong', () => heardFromMaster());
  ws.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      close(new ProtocolError(`the master sent a message larger than the limit: ${err.message}`, 'ERR_MESSAGE_TOO_BIG', { cause: err }));
    } else {
      close(new ConnectionError(`WebSocket error: ${err.message}`, 'ERR_WEBSOCKET', { cause: err }));
    }
  });
  ws.on('close', (code: number) => {
    graceTimer?.cancel();
    close(new ConnectionError(`the master closed the connection (WebSocket code ${code})`, 'ERR_CONNECTION_CLOSED'));
  });

  // ---- WebSocket pings (§1.2, §11: Autobahn answers them; the master never pings) ------

  function schedulePing(): void {
    if (opts.keepaliveSeconds <= 0 || ended) return;
    pingTimer = clock.setTimeout(sendPing, opts.keepaliveSeconds * 1000);
  }

  function sendPing(): void {
    if (ended) return;
    const deadline = replyDeadlineMs(opts.keepaliveSeconds);
    deadlineTimer = clock.setTimeout(() => close(new TimeoutError(`the master did not answer a WebSocket ping within ${deadline / 1000} s`)), deadline);
    try {
      ws.ping();
    } catch (err) {
      close(new ConnectionError(`cannot send a WebSocket ping: ${(err as Error).message}`, 'ERR_WEBSOCKET', { cause: err }));
    }
  }

  /** Anything from the master proves the link alive: stop waiting and plan the next ping. */
  function heardFromMaster(): void {
    if (!deadlineTimer) return;
    deadlineTimer.cancel();
    deadlineTimer = undefined;
    schedulePing();
  }

  const session: Session = {
    closed,
    async requestShutdown() {
      // §6: msgpack has no worker-initiated shutdown request.
      log.warn('msgpack_experimental_v7 has no way to ask the master for a shutdown');
      return false;
    },
    close,
  };

  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  schedulePing();
  const attachDeadline = attachDeadlineMs(opts.keepaliveSeconds);
  if (!ended) attachTimer = clock.setTimeout(() => close(new TimeoutError(`the master did not attach this worker within ${attachDeadline / 1000} s`)), attachDeadline);
  log.info({ workername: opts.workername }, 'connected to the master');
  if (ws.isPaused) ws.resume();
  return session;
}
