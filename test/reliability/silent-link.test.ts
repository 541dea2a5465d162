import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startTestMaster } from '../../src/master/test-master.js';
import { attachWorker, SilenceableProxy, type Protocol } from './harness.js';

/**
 * The link between worker and master goes silent without closing (a proxy in between stops
 * forwarding, sockets stay open — what a NAT timeout or a pulled cable does). The worker's
 * keepalive reply deadline (PB `perspective.keepalive`, msgpack WebSocket ping) must notice
 * and reconnect; the Python worker sits on such a link until TCP keepalive gives up, hours later.
 */

const EXPECTED: Record<Protocol, RegExp> = {
  pb: /the master did not answer a keepalive within 10 s/,
  msgpack: /the master did not answer a WebSocket ping within 10 s/,
};

describe('a silent link is detected by the keepalive deadline and replaced', { concurrency: true }, () => {
  for (const protocol of ['pb', 'msgpack'] as Protocol[]) {
    test(`${protocol}: --keepalive 1 → dropped within the 10 s deadline, reconnected, serving`, { timeout: 60_000 }, async (t) => {
      const name = `silent-${protocol}`;
      // The master still holds the old (silent) connection: like the real one it pings it
      // before accepting the newcomer; 1 s instead of 10 s keeps the test short.
      const master = await startTestMaster({ workers: { [name]: 'silent-pw' }, duplicateTimeoutMs: 1000 });
      const proxy = await SilenceableProxy.start(protocol === 'pb' ? master.pbPort : master.msgpackPort);
      const { worker, handle } = await attachWorker(master, {
        protocol,
        port: proxy.port,
        name,
        password: 'silent-pw',
        extraCreateArgs: ['--keepalive', '1', '--maxdelay', '1'],
      });
      try {
        mkdirSync(path.join(worker.basedir, 'builder', 'build'), { recursive: true });
        assert.equal((await handle.startCommand('builder', 'shell', { command: 'echo before', workdir: 'build' }).done).rc, 0);
        const reattached = master.waitForEvent((e) => e.type === 'attach' && e.worker === name, { timeoutMs: 30_000 });
        const silencedAt = Date.now();
        proxy.silence();
        await reattached;
        const tookMs = Date.now() - silencedAt;
        assert.match(worker.output(), EXPECTED[protocol]);
        assert.equal(proxy.connections, 2, 'exactly one new connection');
        const now = master.worker(name)!;
        assert.notEqual(now, handle);
        const r = await now.startCommand('builder', 'shell', { command: 'echo after', workdir: 'build' }).done;
        assert.equal(r.logs.stdout, 'after\n');
        t.diagnostic(`${protocol}: silent link replaced after ${(tookMs / 1000).toFixed(1)} s`);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- worker output (tail) ---\n${worker.output().slice(-3000)}`, { cause: err });
      } finally {
        await worker.stop();
        await proxy.close();
        await master.close();
      }
    });
  }
});
