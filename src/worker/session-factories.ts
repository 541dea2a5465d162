import { createMsgpackSession } from '../session/msgpack/session.js';
import { createPbSession } from '../session/pb/pb-session.js';
import type { Protocol } from '../config/worker-config.js';
import type { SessionFactory } from './session.js';

/** The session implementation of each protocol buildbot.tac can name. */
export function sessionFactoryFor(protocol: Protocol): SessionFactory {
  return protocol === 'pb' ? createPbSession : createMsgpackSession;
}
