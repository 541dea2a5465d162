import { createHash } from 'node:crypto';
import { AuthError, ERR, ProtocolError } from '../../errors.js';
import { RemoteRef } from '../../protocol/jelly.js';
import { PyTuple } from '../../values.js';
import { RemoteCallError, type Broker, type Referenceable, RemoteReference } from '../../engine/pb/broker.js';

/**
 * twisted.cred "newcred" login, client side (`docs/protocol/pb.md` §5):
 * `root.login(username)` → (challenge, challenger); `challenger.respond(digest, mind)` →
 * the perspective. The master calls the mind (our Bot) before it answers `respond`, so the
 * broker must already be dispatching incoming calls while we wait.
 */

/** Failure type the master sends for a wrong name or password. */
export const UNAUTHORIZED_LOGIN_TYPE = 'twisted.cred.error.UnauthorizedLogin';

/** MD5(MD5(password) ‖ challenge), binary, password as UTF-8. */
export function loginResponse(password: string, challenge: Uint8Array): Buffer {
  const inner = createHash('md5').update(Buffer.from(password, 'utf8')).digest();
  return createHash('md5').update(inner).update(challenge).digest();
}

function asAuthError(err: unknown): unknown {
  if (err instanceof RemoteCallError) {
    const types = [err.failure.type, ...(err.failure.parents ?? [])];
    if (types.includes(UNAUTHORIZED_LOGIN_TYPE)) return new AuthError('unauthorized login; check worker name and password', { cause: err });
  }
  return err;
}

/**
 * Log in as `username` with `mind` as the object the master will call. Resolves with a
 * reference to the perspective; rejects with AuthError when the master refuses the
 * credentials, ProtocolError on a malformed exchange, ConnectionError on loss.
 */
export async function login(broker: Broker, username: string, password: string, mind: Referenceable): Promise<RemoteReference> {
  let answer;
  try {
    answer = await broker.callRemote('root', 'login', [Buffer.from(username, 'utf8')]);
  } catch (err) {
    throw asAuthError(err);
  }
  const items = answer instanceof PyTuple ? answer.items : Array.isArray(answer) ? answer : undefined;
  const challenge = items?.[0];
  const challenger = items?.[1];
  if (!items || items.length !== 2 || !(challenge instanceof Uint8Array) || !(challenger instanceof RemoteRef)) {
    broker.releaseAll(answer);
    throw new ProtocolError('the master answered login with something other than (challenge, challenger)', ERR.PB_LOGIN);
  }
  const responded = broker.callRemote(challenger, 'respond', [loginResponse(password, challenge), mind]);
  // The challenger is single-use: drop it right away, as the Python worker does (#17).
  broker.release(challenger);
  let perspective;
  try {
    perspective = await responded;
  } catch (err) {
    throw asAuthError(err);
  }
  if (!(perspective instanceof RemoteRef)) {
    broker.releaseAll(perspective);
    throw new ProtocolError('the master answered respond without a perspective reference', ERR.PB_LOGIN);
  }
  return broker.reference(perspective);
}
