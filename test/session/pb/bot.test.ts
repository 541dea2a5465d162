import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError } from '../../../src/errors.js';
import { RemoteCallError, Referenceable } from '../../../src/engine/pb/broker.js';
import { CopiedFailure, RemoteRef, type JellyValue } from '../../../src/protocol/jelly.js';
import { PbBot } from '../../../src/session/pb/bot.js';
import type { StartCommandRequest } from '../../../src/worker/handlers.js';
import { PyTuple } from '../../../src/values.js';
import { linkedBrokers, memoryLogger, settle } from './fixtures.js';
import { fakeHandlers } from '../../worker/fake-handlers.js';

/** A worker Bot attached to a master-side broker; returns the master's reference to the Bot. */
async function attach(onStart?: (req: StartCommandRequest) => void) {
  let mind: RemoteRef | undefined;
  const root = new Referenceable('root', { attach: (args) => void (mind = args[0] as RemoteRef) });
  const link = linkedBrokers(root);
  const fake = fakeHandlers({ basedir: '/base', onStart });
  const bot = new PbBot({ broker: link.worker, handlers: fake.handlers, log: memoryLogger().log, home: '/home/w' });
  await link.worker.callRemote('root', 'attach', [bot]);
  assert.ok(mind);
  const call = (target: RemoteRef, method: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}) => link.master.callRemote(target, method, args, kwargs);
  return { ...link, ...fake, bot, mind, call };
}

const builders = (...names: string[]) => names.map((n) => new PyTuple([n, n]));

test('Bot: print, getWorkerInfo, getCommands, getVersion', async () => {
  const { mind, call, events } = await attach();
  assert.equal(await call(mind, 'print', [], { message: 'attached' }), null);
  assert.deepEqual(events, [['print', 'attached']]);
  const info = (await call(mind, 'getWorkerInfo')) as Record<string, JellyValue>;
  assert.equal(info.basedir, '/base');
  assert.equal(info.system, 'posix');
  assert.deepEqual({ ...((await call(mind, 'getCommands')) as object) }, { shell: '3.1' });
  assert.equal(await call(mind, 'getVersion'), '3.7.0');
  await assert.rejects(call(mind, 'getSlaveInfo'), (e: unknown) => e instanceof RemoteCallError && e.failure.type === 'twisted.spread.flavors.NoSuchMethod');
});

test('setBuilderList answers every builder, keeps luids of builders that stay, drops the others', async () => {
  const { mind, call, worker, bot, master } = await attach();
  const first = (await call(mind, 'setBuilderList', [builders('a', 'b')])) as Record<string, RemoteRef>;
  assert.deepEqual(Object.keys(first), ['a', 'b']);
  assert.ok(first.a instanceof RemoteRef && first.b instanceof RemoteRef);
  assert.equal(bot.builderMap.get('a')!.builderDir, '/base/a');
  const second = (await call(mind, 'setBuilderList', [builders('b', 'c')])) as Record<string, RemoteRef>;
  assert.equal(second.b!.luid, first.b!.luid, 'same object for a builder that stays');
  assert.notEqual(second.c!.luid, first.a!.luid);
  assert.deepEqual([...bot.builderMap.keys()], ['b', 'c']);
  // The master gives back its references: the worker forgets them.
  for (const r of [first.a!, first.b!, second.b!, second.c!]) master.release(r);
  await settle();
  assert.equal(worker.exportedCount, 1, 'only the Bot is still exported');
});

test('startCommand: resolved args and a channel reach the worker; interrupts and dropped builders stop commands', async () => {
  const { mind, call, events, master } = await attach();
  const wfbs = (await call(mind, 'setBuilderList', [builders('proto')])) as Record<string, RemoteRef>;
  const cmd = new Referenceable('RemoteCommand', { update: () => 0, complete: () => null });
  const writer = new Referenceable('FileWriter', { write: () => null });
  assert.equal(await call(wfbs.proto!, 'startBuild'), null);
  assert.equal(await call(wfbs.proto!, 'startCommand', [cmd, '7', 'uploadFile', { workdir: 'build', writer, maxsize: null, blocksize: 262144, keepstamp: true, workersrc: '~/out.txt' }]), null);
  const req = events.find((e) => e[0] === 'startCommand')![1] as StartCommandRequest;
  assert.equal(req.commandId, '7');
  assert.equal(req.commandName, 'uploadFile');
  assert.equal(req.builderName, 'proto');
  assert.equal(req.args.path, '/home/w/out.txt');
  assert.equal(req.args.writer, undefined);
  assert.ok(req.channel.writer);
  assert.equal(master.refcountOf(master.luidFor(cmd)!), 1);
  assert.equal(await call(wfbs.proto!, 'interruptCommand', ['7', 'stop it']), null);
  await settle();
  assert.deepEqual(
    events.filter((e) => e[0] === 'interrupt'),
    [['interrupt', '7', 'stop it']],
  );
  // A second command while '7' still runs: the leftover one is interrupted.
  await call(wfbs.proto!, 'startCommand', [cmd, '8', 'mkdir', { dir: 'x' }]);
  await settle();
  assert.deepEqual(events.filter((e) => e[0] === 'interrupt').at(-1), ['interrupt', '7', 'leftover command']);
  // The builder is dropped while '8' runs.
  await call(mind, 'setBuilderList', [[]]);
  await settle();
  assert.deepEqual(events.filter((e) => e[0] === 'interrupt').at(-1), ['interrupt', '8', 'builder removed']);
});

test('startCommand refused by the worker: the master gets an error and its references come back', async () => {
  const { mind, call, master } = await attach((req) => {
    throw new CommandError(`(command ${req.commandId}): unrecognized WorkerCommand '${req.commandName}'`);
  });
  const wfbs = (await call(mind, 'setBuilderList', [builders('proto')])) as Record<string, RemoteRef>;
  const cmd = new Referenceable('RemoteCommand', {});
  const reader = new Referenceable('FileReader', {});
  await assert.rejects(call(wfbs.proto!, 'startCommand', [cmd, '3', 'bogus', { reader }]), (e: unknown) => {
    assert.ok(e instanceof RemoteCallError);
    assert.ok(e.failure instanceof CopiedFailure);
    assert.match(e.failure.value, /unrecognized WorkerCommand 'bogus'/);
    return true;
  });
  await settle();
  assert.equal(master.luidFor(cmd), undefined);
  assert.equal(master.luidFor(reader), undefined);
  await assert.rejects(call(wfbs.proto!, 'startCommand', ['not a ref', '3', 'mkdir', {}]), RemoteCallError);
});

test('Bot.shutdown is answered before the worker shuts down', async () => {
  const { mind, call, events } = await attach();
  const answered = call(mind, 'shutdown');
  assert.equal(await answered, null);
  await settle();
  assert.deepEqual(events.at(-1), ['shutdown']);
});

test('2000 commands leave the master holding only a handful of objects', async () => {
  const { mind, call, master, worker } = await attach((req) => {
    void (async () => {
      await req.channel.writer?.write(Buffer.from('data'));
      await req.channel.writer?.close();
      await req.channel.sendUpdates([{ kind: 'status', key: 'rc', value: 0 }]);
      await req.channel.complete(null);
    })();
  });
  const wfbs = (await call(mind, 'setBuilderList', [builders('proto')])) as Record<string, RemoteRef>;
  let updates = 0;
  for (let i = 0; i < 2000; i++) {
    const cmd = new Referenceable('RemoteCommand', { update: () => (updates++, 0), complete: () => null });
    const writer = new Referenceable('FileWriter', { write: () => null, close: () => null });
    await call(wfbs.proto!, 'startCommand', [cmd, String(i), 'uploadFile', { workdir: 'build', writer, workersrc: 'f' }]);
  }
  for (let i = 0; i < 20; i++) await settle();
  assert.equal(updates, 2000);
  assert.equal(master.exportedCount, 0, 'every RemoteCommand and writer was released');
  assert.equal(worker.heldTotal, 0);
});
