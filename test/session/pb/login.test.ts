import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError, ProtocolError } from '../../../src/errors.js';
import { RemoteRef } from '../../../src/protocol/jelly.js';
import { PbFailure, Referenceable } from '../../../src/engine/pb/broker.js';
import { UNAUTHORIZED_LOGIN_TYPE, login, loginResponse } from '../../../src/session/pb/login.js';
import { PyTuple } from '../../../src/values.js';
import { linkedBrokers, readFixture, settle } from './fixtures.js';

interface DigestVector {
  challenge_hex: string;
  password_utf8: string;
  response_hex: string;
}

test('login digest = MD5(MD5(password) || challenge), all vectors', () => {
  const vectors = (JSON.parse(readFixture('banana-vectors.json')) as { login_response_digest: DigestVector[] }).login_response_digest;
  assert.ok(vectors.length >= 4);
  for (const v of vectors) {
    assert.equal(loginResponse(v.password_utf8, Buffer.from(v.challenge_hex, 'hex')).toString('hex'), v.response_hex, v.password_utf8);
  }
});

/** A master-side root: newcred with one account, calling the mind before answering respond. */
function portal(password: string, challenge = Buffer.alloc(16, 7)) {
  const seen: { mindCalls: unknown[]; username?: string } = { mindCalls: [] };
  let master!: ReturnType<typeof linkedBrokers>['master'];
  const perspective = new Referenceable('perspective', { keepalive: () => null });
  const root = new Referenceable('root', {
    login: (args) => {
      seen.username = Buffer.from(args[0] as Uint8Array).toString('utf8');
      const challenger = new Referenceable('challenger', {
        respond: async (rargs) => {
          const [digest, mind] = rargs;
          if (!(mind instanceof RemoteRef)) throw new Error('no mind');
          if (!Buffer.from(digest as Uint8Array).equals(loginResponse(password, challenge))) {
            master.release(mind);
            throw new PbFailure(UNAUTHORIZED_LOGIN_TYPE, '');
          }
          // Like the Buildbot master: talk to the mind before answering respond.
          seen.mindCalls.push(await master.callRemote(mind, 'print', [], { message: 'attached' }));
          return perspective;
        },
      });
      return new PyTuple([challenge, challenger as never]);
    },
  });
  const link = linkedBrokers(root);
  master = link.master;
  return { ...link, seen, perspective };
}

test('login: the mind is served before respond is answered, the challenger is released', async () => {
  const { worker, master, seen, perspective } = portal('s3cret');
  const printed: string[] = [];
  const mind = new Referenceable('Bot', {
    print: (_a, kw) => {
      printed.push(String(kw.message));
      return null;
    },
  });
  const p = await login(worker, 'wörker', 's3cret', mind);
  assert.equal(seen.username, 'wörker', 'username sent as UTF-8 bytes');
  assert.deepEqual(printed, ['attached']);
  assert.deepEqual(seen.mindCalls, [null]);
  await settle();
  // Master side: the challenger is gone, the perspective is held once by the worker.
  assert.equal(master.exportedCount, 1);
  assert.equal(master.luidFor(perspective), p.luid);
  assert.equal(master.refcountOf(p.luid), 1);
  assert.equal(worker.heldTotal, 1);
});

test('login with a wrong password rejects with AuthError', async () => {
  const { worker, master } = portal('right');
  const mind = new Referenceable('Bot', {});
  await assert.rejects(login(worker, 'w', 'wrong', mind), AuthError);
  await settle();
  assert.equal(master.exportedCount, 0, 'challenger released');
  assert.equal(worker.exportedCount, 0, 'the master let go of our mind');
});

test('a login answer that is not (challenge, challenger) is a ProtocolError', async () => {
  const { worker } = linkedBrokers(new Referenceable('root', { login: () => 'nope' }));
  await assert.rejects(login(worker, 'w', 'p', new Referenceable('Bot', {})), ProtocolError);
});
