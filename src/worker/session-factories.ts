import type { Protocol } from '../config/worker-config.js';
import type { SessionFactory } from './session.js';

/**
 * The session implementation of each protocol buildbot.tac can name. Each is imported on
 * its first connection, so a PB worker never loads ws and msgpackr (startup time, memory).
 */
export function sessionFactoryFor(protocol: Protocol): SessionFactory {
  return protocol === 'pb'
    ? async (opts, signal) => (await import('../session/pb/pb-session.js')).createPbSession(opts, signal)
    : async (opts, signal) => (await import('../session/msgpack/session.js')).createMsgpackSession(opts, signal);
}
