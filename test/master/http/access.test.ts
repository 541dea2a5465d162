import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { runTestMaster } from '../../../src/cli/test-master.js';
import { ConfigError } from '../../../src/errors.js';
import { startMasterHttp, type MasterHttpServer } from '../../../src/master/http/http-server.js';
import { startTestMaster } from '../../../src/master/test-master.js';
import { authHeader, call, finished, jobWhen, startFixture, type HttpFixture } from './fixture.js';

/**
 * What a foreign web page, a DNS-rebinding page or a client without the token can do to the
 * test master's API: nothing. Requests go out through node:http so Host and Origin are
 * exactly what a browser under attack would send.
 */

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function raw(web: MasterHttpServer, method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${web.url}${urlPath}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The status of a GET, read from the response head (an event stream that opens never ends). */
function headStatus(web: MasterHttpServer, urlPath: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${web.url}${urlPath}`, { headers }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
}

/** The status a WebSocket upgrade is answered with (101 when it opens). */
function wsStatus(web: MasterHttpServer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${web.url.replace(/^http/, 'ws')}/ws`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

const EVIL = 'http://evil.example';
const FORM = 'application/x-www-form-urlencoded';

describe('access to the test master API', () => {
  let fx: HttpFixture;
  let own: string;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack' });
    own = fx.web.url;
  });
  after(async () => {
    await fx?.close();
  });

  const jobCount = async () => ((await call(fx.web, 'GET', '/api/v1/jobs')).body.jobs as unknown[]).length;

  test('a cross-site form POST is refused and nothing runs', async () => {
    const before = await jobCount();
    const form = `worker=${fx.name}&command=touch+/tmp/pwned`;
    // What a foreign page's <form> sends: no token (its cookie is SameSite=Strict), a form type, a foreign Origin.
    const attack = await raw(fx.web, 'POST', '/api/v1/jobs', { 'Content-Type': FORM, Origin: EVIL }, form);
    assert.ok(attack.status === 401 || attack.status === 403, `status ${attack.status}`);
    // Each check holds on its own: even with the token, a foreign Origin or a form body is refused.
    const foreign = await raw(fx.web, 'POST', '/api/v1/jobs', { ...authHeader(fx.web), 'Content-Type': 'application/json', Origin: EVIL }, JSON.stringify({ worker: fx.name, command: 'true' }));
    assert.equal(foreign.status, 403);
    assert.match(JSON.parse(foreign.text).error, /origin/i);
    const formType = await raw(fx.web, 'POST', '/api/v1/jobs', { ...authHeader(fx.web), 'Content-Type': FORM, Origin: own }, form);
    assert.equal(formType.status, 415);
    const textPlain = await raw(fx.web, 'POST', '/api/v1/jobs', { ...authHeader(fx.web), 'Content-Type': 'text/plain' }, JSON.stringify({ worker: fx.name, command: 'true' }));
    assert.equal(textPlain.status, 415);
    assert.equal(await jobCount(), before, 'no job was created');
  });

  test('a POST without a Content-Type is refused, even with a JSON body', async () => {
    const before = await jobCount();
    const r = await raw(fx.web, 'POST', '/api/v1/jobs', authHeader(fx.web), JSON.stringify({ worker: fx.name, command: 'true' }));
    assert.equal(r.status, 415);
    assert.match(JSON.parse(r.text).error, /application\/json/);
    assert.equal(await jobCount(), before);
  });

  test('_method in the query string is refused; in a JSON body it works; own Origin is accepted', async () => {
    const r = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'sleep 60' });
    assert.equal(r.status, 202);
    const id = r.body.request_id as number;
    const q = await raw(fx.web, 'POST', `/api/v1/jobs/${id}?_method=DELETE`, { ...authHeader(fx.web), 'Content-Type': 'application/json' }, '{}');
    assert.equal(q.status, 400);
    assert.match(JSON.parse(q.text).error, /_method/);
    assert.equal((await call(fx.web, 'GET', `/api/v1/jobs/${id}`)).body.cancelled, false);
    const b = await raw(fx.web, 'POST', `/api/v1/jobs/${id}`, { ...authHeader(fx.web), 'Content-Type': 'application/json', Origin: own }, JSON.stringify({ _method: 'DELETE' }));
    assert.equal(b.status, 202);
    await jobWhen(fx.web, id, finished, 'finished');
  });

  test('/ws: a foreign Origin is refused, the own Origin or none is accepted', async () => {
    assert.equal(await wsStatus(fx.web, { ...authHeader(fx.web), Origin: EVIL }), 403);
    assert.equal(await wsStatus(fx.web, { ...authHeader(fx.web), Origin: 'null' }), 403);
    assert.equal(await wsStatus(fx.web, { ...authHeader(fx.web), Origin: own }), 101);
    assert.equal(await wsStatus(fx.web, authHeader(fx.web)), 101);
  });

  test('/sse: a foreign Origin is refused', async () => {
    assert.equal(await headStatus(fx.web, '/sse/listen/jobs/*/logs', { ...authHeader(fx.web), Origin: EVIL }), 403);
    assert.equal(await headStatus(fx.web, '/sse/listen/jobs/*/logs', { ...authHeader(fx.web), Origin: own }), 200);
  });

  test('a Host that is not this server (DNS rebinding) is refused on the API, /ws, /sse and the page', async () => {
    const port = fx.web.port;
    for (const p of ['/api/v1/workers', '/']) {
      const r = await raw(fx.web, 'GET', p, { ...authHeader(fx.web), Host: `rebind.evil.example:${port}` });
      assert.equal(r.status, 421, p);
      assert.doesNotMatch(r.text, new RegExp(fx.name), p);
    }
    assert.equal(await headStatus(fx.web, '/sse/listen/**', { ...authHeader(fx.web), Host: `rebind.evil.example:${port}` }), 421);
    assert.equal(await wsStatus(fx.web, { ...authHeader(fx.web), Host: `rebind.evil.example:${port}` }), 421);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      assert.equal((await raw(fx.web, 'GET', '/api/v1/workers', { ...authHeader(fx.web), Host: host })).status, 200, host);
    }
    assert.equal((await raw(fx.web, 'GET', '/api/v1/workers', { ...authHeader(fx.web), Host: `localhost:${port + 1}` })).status, 421);
  });

  test('a missing or wrong token is refused on every endpoint; Bearer and the page cookie are accepted', async () => {
    const wrong = { Authorization: `Bearer ${fx.web.token.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}` };
    const refused: Array<Record<string, string>> = [{}, wrong, { Authorization: fx.web.token }, { Cookie: `${fx.web.cookieName}=nope` }];
    for (const headers of refused) {
      const w = await raw(fx.web, 'GET', '/api/v1/workers', headers);
      assert.equal(w.status, 401, JSON.stringify(headers));
      assert.doesNotMatch(w.text, new RegExp(fx.name));
      assert.equal(await headStatus(fx.web, '/sse/listen/**', headers), 401);
      assert.equal(await wsStatus(fx.web, headers), 401);
      const before = await jobCount();
      const post = await raw(fx.web, 'POST', '/api/v1/jobs', { ...headers, 'Content-Type': 'application/json' }, JSON.stringify({ worker: fx.name, command: 'true' }));
      assert.equal(post.status, 401);
      assert.equal(await jobCount(), before);
    }
    // The page's way in: /?token= sets an HttpOnly, SameSite=Strict cookie and drops the token from the address.
    const bad = await raw(fx.web, 'GET', '/?token=wrong', {});
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['set-cookie'], undefined);
    const login = await raw(fx.web, 'GET', `/?job=3&token=${encodeURIComponent(fx.web.token)}`, {});
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, './?job=3');
    const cookie = login.headers['set-cookie']?.[0] ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const pair = cookie.split(';')[0]!;
    assert.equal((await raw(fx.web, 'GET', '/api/v1/workers', { Cookie: pair })).status, 200);
    assert.equal(await wsStatus(fx.web, { Cookie: pair, Origin: own }), 101);
    // The page itself (static files, no data) loads without the token so it can say how to get in.
    assert.equal((await raw(fx.web, 'GET', '/', {})).status, 200);
  });
});

describe('start-up without a token off loopback', () => {
  test('startMasterHttp refuses a non-loopback host without a token and starts with one', async () => {
    const master = await startTestMaster({ workers: { w: 'p' } });
    try {
      await assert.rejects(startMasterHttp({ master, workers: ['w'], host: '0.0.0.0', port: 0 }), (err: unknown) => err instanceof ConfigError && /token/.test(err.message));
      await assert.rejects(startMasterHttp({ master, workers: ['w'], port: 0, token: 'short' }), (err: unknown) => err instanceof ConfigError && /at least/.test(err.message));
      const web = await startMasterHttp({ master, workers: ['w'], host: '0.0.0.0', port: 0, token: 'a-token-of-enough-length' });
      try {
        assert.equal(web.token, 'a-token-of-enough-length');
      } finally {
        await web.close();
      }
    } finally {
      await master.close();
    }
  });

  test('worker test-master --http-host 0.0.0.0 without --token fails with a clear error', async () => {
    await assert.rejects(
      runTestMaster({ host: '127.0.0.1', pbPort: 0, msgpackPort: 0, worker: ['w:p'], builder: 'b', httpPort: 0, httpHost: '0.0.0.0' }, () => undefined),
      (err: unknown) => err instanceof ConfigError && /--token/.test(err.message),
    );
  });

  test('the CLI prints the page address with the token once, on stdout; the API answers to it', async () => {
    const bin = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'bin', 'worker.js');
    const child = spawn(process.execPath, [bin, 'test-master', '--worker', 'w:p', '--pb-port', '0', '--msgpack-port', '0', '--http-port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WORKER_TEST_MASTER_TOKEN: '' },
    });
    let out = '';
    try {
      const url = await new Promise<URL>((resolve, reject) => {
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (c: string) => {
          out += c;
          const m = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(out);
          if (m && /\n/.test(out.slice(out.indexOf(m[1]!)))) resolve(new URL(m[1]!));
        });
        child.once('exit', (code) => reject(new Error(`test-master exited (${code}): ${out}`)));
      });
      const token = url.searchParams.get('token')!;
      assert.ok(token.length >= 32);
      const r = await fetch(new URL('/api/v1/workers', url), { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      assert.equal((await fetch(new URL('/api/v1/workers', url))).status, 401);
      assert.equal(out.split(token).length - 1, 1, `the token appears once in: ${out}`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});

describe('behind a reverse proxy (--base-url)', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ baseUrl: 'https://ci.example.org/buildbot' });
  });
  after(async () => {
    await fx?.close();
  });

  test('the prefix is accepted with or without the proxy stripping it; the public host and origin are allowed', async () => {
    assert.equal(fx.web.pageUrl, `https://ci.example.org/buildbot/?token=${encodeURIComponent(fx.web.token)}`);
    assert.equal((await raw(fx.web, 'GET', '/buildbot/api/v1/workers', { ...authHeader(fx.web), Host: 'ci.example.org' })).status, 200);
    assert.equal((await raw(fx.web, 'GET', '/api/v1/workers', authHeader(fx.web))).status, 200);
    // The proxy may pass its own Host; the page's Origin is the public one.
    const body = JSON.stringify({ worker: 'w-none', command: 'true' });
    const json = { ...authHeader(fx.web), 'Content-Type': 'application/json' };
    assert.equal((await raw(fx.web, 'POST', '/buildbot/api/v1/jobs', { ...json, Origin: 'https://ci.example.org' }, body)).status, 503);
    assert.equal((await raw(fx.web, 'POST', '/buildbot/api/v1/jobs', { ...json, Origin: 'http://ci.example.org' }, body)).status, 403);
    assert.equal((await raw(fx.web, 'POST', '/buildbot/api/v1/jobs', { ...json, Origin: EVIL }, body)).status, 403);
    assert.equal((await raw(fx.web, 'GET', '/buildbot/api/v1/workers', { ...authHeader(fx.web), Host: 'other.example.org' })).status, 421);
    const ws = new WebSocket(`${fx.web.url.replace(/^http/, 'ws')}/buildbot/ws`, { headers: { ...authHeader(fx.web), Origin: 'https://ci.example.org' } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.close();
    const login = await raw(fx.web, 'GET', `/buildbot/?token=${encodeURIComponent(fx.web.token)}`, {});
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, './');
  });
});
