import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, startFixture, shellStep, type HttpFixture } from './fixture.js';

/** Debian's chromium package; CI installs it (.ci/run). */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`;

describe('status page in headless Chromium', { skip }, () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack' });
  });
  after(async () => {
    await fx?.close();
  });

  test('shows the worker, the job and its log following live', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
      const r = await call(fx.web, 'POST', '/api/v1/jobs', {
        worker: fx.name,
        steps: [shellStep('echo first-line'), shellStep('echo waiting; sleep 60')],
      });
      const id = r.body.request_id as number;
      // Without the token the page loads but gets no data, and says how to get in.
      await page.goto(`${fx.web.url}/`);
      await page.locator('#login').waitFor({ state: 'visible', timeout: 20_000 });
      assert.equal(await page.locator('#workers tbody tr').count(), 0);
      // The address the test master prints: the token becomes a cookie and leaves the address bar.
      await page.goto(`${fx.web.url}/?job=${id}&token=${encodeURIComponent(fx.web.token)}`);
      assert.equal(new URL(page.url()).search, `?job=${id}`);
      await page.locator('#conn.on').waitFor({ timeout: 20_000 });
      await page.locator('#workers tbody tr', { hasText: fx.name }).waitFor({ timeout: 20_000 });
      assert.match(await page.locator('#workers tbody').innerText(), /yes/);
      await page.locator(`#jobs tbody tr[data-id="${id}"]`).waitFor({ timeout: 20_000 });
      await page.locator('#log', { hasText: 'first-line' }).waitFor({ timeout: 20_000 });

      // A line that appears while the page is open arrives over the event stream.
      const live = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'echo live-line-from-job' });
      await page.locator(`#jobs tbody tr[data-id="${live.body.request_id}"]`).click();
      await call(fx.web, 'DELETE', `/api/v1/jobs/${id}`);
      await page.locator('#log', { hasText: 'live-line-from-job' }).waitFor({ timeout: 20_000 });
      await page.locator('#log-state', { hasText: 'SUCCESS' }).waitFor({ timeout: 20_000 });
      assert.doesNotMatch(await page.locator('#log').innerText(), /first-line/);

      // The page's own requests (the Stop button: a JSON DELETE) pass the origin and token checks.
      const stopped = await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: 'sleep 60' });
      await page.locator(`#jobs tbody tr[data-id="${stopped.body.request_id}"]`).click();
      await page.locator('#log-state', { hasText: 'running' }).waitFor({ timeout: 20_000 });
      await page.locator('#log-stop').click();
      await page.locator('#log-state', { hasText: 'CANCELLED' }).waitFor({ timeout: 20_000 });
      // And the New job form (a JSON POST).
      await page.locator('#submit-command').fill('echo from-the-form');
      await page.locator('#submit button[type=submit]').click();
      await page.locator('#log', { hasText: 'from-the-form' }).waitFor({ timeout: 20_000 });

      const shot = await page.screenshot({ fullPage: true });
      assert.ok(shot.length > 1000, `screenshot of ${shot.length} bytes`);
      assert.deepEqual([...shot.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      if (process.env.STATUS_PAGE_SCREENSHOT) fs.writeFileSync(process.env.STATUS_PAGE_SCREENSHOT, shot);
    } finally {
      await browser.close();
    }
  });
});

describe('status page under a proxy path prefix, in headless Chromium', { skip }, () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack', baseUrl: 'https://proxy.invalid/buildbot/' });
  });
  after(async () => {
    await fx?.close();
  });

  test('relative URLs: the API, /ws and the form work under /buildbot/', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      await page.goto(`${fx.web.url}/buildbot/?token=${encodeURIComponent(fx.web.token)}`);
      assert.equal(new URL(page.url()).pathname, '/buildbot/');
      await page.locator('#conn.on').waitFor({ timeout: 20_000 });
      await page.locator('#workers tbody tr', { hasText: fx.name }).waitFor({ timeout: 20_000 });
      await page.locator('#submit-command').fill('echo under-a-prefix');
      await page.locator('#submit button[type=submit]').click();
      await page.locator('#log', { hasText: 'under-a-prefix' }).waitFor({ timeout: 20_000 });
      const outside = requests.filter((p) => !p.startsWith('/buildbot/'));
      assert.deepEqual(outside, [], 'every request stays under the prefix');
    } finally {
      await browser.close();
    }
  });
});
