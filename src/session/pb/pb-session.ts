import type { Duplex } from 'node:stream';
import { AuthError, ConnectionError, ERR, ProtocolError, WorkerError } from '../../errors.js';
import { connectStream } from '../../transport/connect.js';
import type { Session, SessionFactory, SessionOptions } from '../../worker/session.js';
import { Broker, RemoteCallError, type RemoteReference } from '../../engine/pb/broker.js';
import { PbBot } from './bot.js';
import { ClientFraming } from '../../engine/pb/client-framing.js';
import { login } from './login.js';
import { attachDeadlineMs } from '../deadlines.js';
import { SessionLifecycle } from '../lifecycle.js';
import { LivenessProbe, keepaliveTiming } from '../liveness.js';

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
  let loggedIn = false;
  let rejectLogin: ((err: Error) => void) | undefined;
  let perspective: RemoteReference | undefined;

  const life = new SessionLifecycle({
    clock,
    log,
    signal,
    terminate: () => stream.destroy(),
    gracefulClose: () => stream.end(),
    onEnd: (reason) => {
      const lost = reason ?? new ConnectionError('connection closed', ERR.CONNECTION_CLOSED);
      broker.connectionLost(lost);
      if (rejectLogin) {
        rejectLogin(reason instanceof WorkerError ? reason : new ConnectionError(`connection lost before login completed: ${lost.message}`, ERR.CONNECTION_LOST, { cause: lost }));
        rejectLogin = undefined;
      }
      if (loggedIn) {
        try {
          handlers.connectionLost();
        } catch (err) {
          log.error({ err }, 'connectionLost handler failed');
        }
      }
    },
  });
  const close = (reason?: Error): void => life.close(reason);

  const framing = new ClientFraming({
    write: (bytes) => {
      if (!life.ended) stream.write(bytes);
    },
    onNegotiated: (dialect) => {
      log.debug({ dialect }, 'banana dialect agreed');
      broker.sendVersion();
      startLogin();
    },
    onExpression: (expr) => {
      // Anything from the master proves the link alive, as on msgpack (src/session/deadlines.ts).
      liveness.heard();
      broker.receive(expr);
    },
  });
  const broker = new Broker({ send: (expr) => framing.send(expr), log, role: 'worker', strictness: 'tolerate', unsafeTracebacks: true });
  const bot = new PbBot({ broker, handlers, log });

  // Application keepalives (§6.9): perspective.keepalive(); the master must be heard from within the reply deadline.
  const liveness = new LivenessProbe({
    clock,
    ...keepaliveTiming(opts.keepaliveSeconds),
    what: 'a keepalive',
    onTimeout: (err) => close(err),
    send: () => {
      if (!perspective) return;
      log.debug('sending app-level keepalive');
      // The answer, like anything else from the master, reaches `liveness.heard()` in onExpression.
      perspective.callRemote('keepalive').then(
        () => log.debug("master replied to keepalive, everything's fine"),
        (err) => {
          // A refusal still proves the master alive; keep going.
          if (err instanceof RemoteCallError) log.warn({ err }, 'keepalive refused by the master');
        },
      );
    },
  });
  life.onEnded(() => liveness.stop());

  stream.on('data', (chunk: Buffer) => {
    if (life.ended) return;
    try {
      framing.receive(chunk);
    } catch (err) {
      const e = err instanceof WorkerError ? err : new ProtocolError(`cannot handle data from the master: ${(err as Error).message}`, ERR.PB_MESSAGE, { cause: err });
      close(e);
    }
  });
  // connectStream hands the stream over paused, so nothing is lost before this listener.
  stream.resume();
  stream.on('error', (err) => close(err instanceof WorkerError ? err : new ConnectionError(`connection error: ${err.message}`, ERR.CONNECTION, { cause: err })));
  stream.on('end', () => close(new ConnectionError('the master closed the connection', ERR.CONNECTION_CLOSED)));
  stream.on('close', () => {
    life.linkClosed();
    close(new ConnectionError('connection closed', ERR.CONNECTION_CLOSED));
  });

  const session: Session = {
    closed: life.closed,
    async requestShutdown() {
      if (!perspective || life.ended) return false;
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
          if (life.ended) return;
          perspective = p;
          loggedIn = true;
          rejectLogin = undefined;
          life.attached();
          log.info({ workername: opts.workername }, 'connected to the master and logged in');
          liveness.start();
          resolve(session);
        },
        (err: Error) => {
          if (life.ended) return;
          rejectLogin = undefined;
          if (err instanceof AuthError) log.error('unauthorized login; check worker name and password');
          else log.warn({ err }, 'login failed');
          reject(err);
          life.finish(err);
          stream.destroy();
        },
      );
    };
  });

  life.watchAbort();
  life.attachDeadline(attachDeadlineMs(opts.keepaliveSeconds), 'login not completed');
  return loggedInPromise;
}
