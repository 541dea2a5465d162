import type { Duplex } from 'node:stream';
import { AuthError, ConnectionError, ProtocolError, TimeoutError, WorkerError } from '../../errors.js';
import { connectStream } from '../../transport/connect.js';
import type { TimerHandle } from '../../util/clock.js';
import type { Session, SessionFactory, SessionOptions } from '../../worker/session.js';
import { Broker, RemoteCallError, type RemoteReference } from '../../engine/pb/broker.js';
import { Bot } from './bot.js';
import { ClientFraming } from '../../engine/pb/client-framing.js';
import { login } from './login.js';
import { CLOSE_GRACE_MS, attachDeadlineMs, replyDeadlineMs } from '../deadlines.js';

/**
 * A worker's connection to a master over Perspective Broker (`docs/protocol/pb.md`
 * §1): dialect negotiation, version, newcred login with the Bot as mind, then serving the
 * master's calls; application keepalives with a reply deadline (§6.9) so a half-open link
 * is noticed, which the Python worker never does.
 */

export const createPbSession: SessionFactory = async (opts, signal) => {
  const stream = await connectStream(opts.transport, signal);
  return runPbSession(stream, opts, signal);
};

/**
 * Run the PB client over an already connected byte stream (what `createPbSession` does
 * after connecting; tests drive it over in-memory streams). Resolves once the master has
 * answered `respond` with the perspective.
 */
export function runPbSession(stream: Duplex, opts: SessionOptions, signal?: AbortSignal): Promise<Session> {
  const { clock, handlers } = opts;
  const log = opts.log.child({ protocol: 'pb' });
  let ended = false;
  let loggedIn = false;
  let resolveClosed!: (reason: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((r) => (resolveClosed = r));
  let rejectLogin: ((err: Error) => void) | undefined;
  let keepaliveTimer: TimerHandle | undefined;
  let deadlineTimer: TimerHandle | undefined;
  let loginTimer: TimerHandle | undefined;
  let perspective: RemoteReference | undefined;

  const framing = new ClientFraming({
    write: (bytes) => {
      if (!ended) stream.write(bytes);
    },
    onNegotiated: (dialect) => {
      log.debug({ dialect }, 'banana dialect agreed');
      broker.sendVersion();
      startLogin();
    },
    onExpression: (expr) => broker.receive(expr),
  });
  const broker = new Broker({ send: (expr) => framing.send(expr), log, unsafeTracebacks: true });
  const bot = new Bot({ broker, handlers, log });

  /** End the session once: reject what waits, tell the worker, resolve `closed`. */
  function finish(reason: Error | undefined): void {
    if (ended) return;
    ended = true;
    keepaliveTimer?.cancel();
    deadlineTimer?.cancel();
    loginTimer?.cancel();
    signal?.removeEventListener('abort', onAbort);
    const lost = reason ?? new ConnectionError('connection closed', 'ERR_CONNECTION_CLOSED');
    broker.connectionLost(lost);
    if (rejectLogin) {
      rejectLogin(reason instanceof WorkerError ? reason : new ConnectionError(`connection lost before login completed: ${lost.message}`, 'ERR_CONNECTION_LOST', { cause: lost }));
      rejectLogin = undefined;
    }
    if (loggedIn) {
      try {
        handlers.connectionLost();
      } catch (err) {
        log.error({ err }, 'connectionLost handler failed');
      }
    }
    resolveClosed(reason);
  }

  /** Drop the link with `reason` (undefined: a clean close asked for by the worker). */
  function close(reason?: Error): void {
    if (ended) return;
    if (reason) log.warn({ err: reason }, 'closing the connection to the master');
    finish(reason);
    if (reason) stream.destroy();
    else {
      stream.end();
      const t = clock.setTimeout(() => stream.destroy(), CLOSE_GRACE_MS);
      stream.once('close', () => t.cancel());
    }
  }

  function onAbort(): void {
    close(new ConnectionError('session aborted', 'ERR_ABORTED'));
  }

  stream.on('data', (chunk: Buffer) => {
    if (ended) return;
    try {
      framing.receive(chunk);
    } catch (err) {
      const e = err instanceof WorkerError ? err : new ProtocolError(`cannot handle data from the master: ${(err as Error).message}`, 'ERR_PB_MESSAGE', { cause: err });
      close(e);
    }
  });
  // connectStream hands the stream over paused, so nothing is lost before this listener.
  stream.resume();
  stream.on('error', (err) => close(err instanceof WorkerError ? err : new ConnectionError(`connection error: ${err.message}`, 'ERR_CONNECTION', { cause: err })));
  stream.on('end', () => close(new ConnectionError('the master closed the connection', 'ERR_CONNECTION_CLOSED')));
  stream.on('close', () => close(new ConnectionError('connection closed', 'ERR_CONNECTION_CLOSED')));

  function scheduleKeepalive(): void {
    if (opts.keepaliveSeconds <= 0 || ended) return;
    keepaliveTimer = clock.setTimeout(sendKeepalive, opts.keepaliveSeconds * 1000);
  }

  function sendKeepalive(): void {
    if (ended || !perspective) return;
    const deadline = replyDeadlineMs(opts.keepaliveSeconds);
    log.debug('sending app-level keepalive');
    deadlineTimer = clock.setTimeout(() => {
      close(new TimeoutError(`the master did not answer a keepalive within ${deadline / 1000} s`));
    }, deadline);
    perspective.callRemote('keepalive').then(
      () => {
        deadlineTimer?.cancel();
        log.debug("master replied to keepalive, everything's fine");
        scheduleKeepalive();
      },
      (err) => {
        deadlineTimer?.cancel();
        if (err instanceof RemoteCallError) {
          // The master is alive, it just refused; keep going.
          log.warn({ err }, 'keepalive refused by the master');
          scheduleKeepalive();
        }
      },
    );
  }

  const session: Session = {
    closed,
    async requestShutdown() {
      if (!perspective || ended) return false;
      try {
        await perspective.callRemote('shutdown');
        return true;
      } catch (err) {
        log.warn({ err }, 'the master did not accept the shutdown request');
        return false;
      }
    },
    close,
  };

  let startLogin!: () => void;
  const loggedInPromise = new Promise<Session>((resolve, reject) => {
    rejectLogin = reject;
    startLogin = () => {
      log.debug({ workername: opts.workername }, 'logging in');
      login(broker, opts.workername, opts.password, bot).then(
        (p) => {
          if (ended) return;
          perspective = p;
          loggedIn = true;
          rejectLogin = undefined;
          loginTimer?.cancel();
          log.info({ workername: opts.workername }, 'connected to the master and logged in');
          scheduleKeepalive();
          resolve(session);
        },
        (err: Error) => {
          if (ended) return;
          rejectLogin = undefined;
          if (err instanceof AuthError) log.error('unauthorized login; check worker name and password');
          else log.warn({ err }, 'login failed');
          reject(err);
          finish(err);
          stream.destroy();
        },
      );
    };
  });

  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const loginDeadline = attachDeadlineMs(opts.keepaliveSeconds);
  loginTimer = clock.setTimeout(() => close(new TimeoutError(`login not completed within ${loginDeadline / 1000} s`)), loginDeadline);

  return loggedInPromise;
}
