import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { captureChunks } from '../session/pb/fixtures.js';
import { startWorker, type Protocol } from './harness.js';
import { eventually } from '../helpers/eventually.js';

/**
 * A master that accepts the connection and then never attaches the worker (buildbot issue
 * #4678: the Python worker waits forever). The worker must give up on that connection
 * within its deadline — derived from `--keepalive` (here 1 s → 10 s) — close it and try
 * again.
 */

const KEEPALIVE_ARGS = ['--keepalive', '1', '--maxdelay', '1'];

/** A server that counts connections and when the worker closed each of them. */
interface Stall {
  port: number;
  opened: number;
  closedByWorker: number;
  close(): Promise<void>;
}

/** Accepts TCP, then says `greeting` (if any) and nothing more. */
async function silentTcpServer(greeting?: Buffer): Promise<Stall> {
  const sockets = new Set<net.Socket>();
  const stall: Stall = { port: 0, opened: 0, closedByWorker: 0, close: async () => undefined };
  const server = net.createServer((s) => {
    stall.opened++;
    sockets.add(s);
    s.on('error', () => undefined);
    // Read (and drop) what the worker sends, so its FIN is seen.
    s.on('data', () => undefined);
    s.on('close', () => stall.closedByWorker++);
    if (greeting) s.write(greeting);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  stall.port = (server.address() as net.AddressInfo).port;
  stall.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return stall;
}

/** Completes the WebSocket upgrade (answering pings, as any WebSocket does), then says nothing. */
async function silentWebSocketServer(): Promise<Stall> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const stall: Stall = {
    port: (wss.address() as net.AddressInfo).port,
    opened: 0,
    closedByWorker: 0,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
  wss.on('connection', (ws) => {
    stall.opened++;
    ws.on('error', () => undefined);
    ws.on('close', () => stall.closedByWorker++);
  });
  return stall;
}

async function expectDroppedAndRetried(protocol: Protocol, stall: Stall, expectLog: RegExp, extraArgs: string[] = []): Promise<void> {
  const worker = await startWorker({ protocol, port: stall.port, name: `stall-${protocol}`, password: 'stall-pw', extraCreateArgs: [...KEEPALIVE_ARGS, ...extraArgs] });
  try {
    // Deadline 10 s, back-off at most 2 s: a second attempt well within 30 s.
    await eventually(() => stall.closedByWorker >= 1 && stall.opened >= 2, 'the worker to drop the stalled connection and retry', 30_000);
    assert.match(worker.output(), expectLog);
    assert.equal(worker.child.exitCode, null, 'the worker keeps running');
  } catch (err) {
    throw new Error(`${(err as Error).message}\nopened ${stall.opened}, closed ${stall.closedByWorker}\n--- worker output ---\n${worker.output().slice(-3000)}`, { cause: err });
  } finally {
    await worker.stop();
    await stall.close();
  }
}

describe('a connection that opens but never attaches is dropped and retried', { concurrency: true }, () => {
  test('pb: the server accepts and says nothing', { timeout: 60_000 }, async () => {
    await expectDroppedAndRetried('pb', await silentTcpServer(), /login not completed within 10 s/);
  });

  test('pb: the server offers the banana dialects, then says nothing', { timeout: 60_000 }, async () => {
    const offer = captureChunks('pb-session.jsonl').find((c) => c.conn === 1 && c.dir === 'm2w')!.bytes;
    await expectDroppedAndRetried('pb', await silentTcpServer(offer), /login not completed within 10 s/);
  });

  test('msgpack: the server accepts TCP and never answers the upgrade (connection string timeout)', { timeout: 60_000 }, async () => {
    const stall = await silentTcpServer();
    await expectDroppedAndRetried('msgpack', stall, /did not complete the WebSocket upgrade within 3000 ms/, ['--connection-string', `tcp:host=127.0.0.1:port=${stall.port}:timeout=3`]);
  });

  test('msgpack: the upgrade completes, then the master never attaches', { timeout: 60_000 }, async () => {
    await expectDroppedAndRetried('msgpack', await silentWebSocketServer(), /did not attach this worker within 10 s/);
  });
});
