import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, finished, jobWhen, startFixture, shellStep, type HttpFixture } from './fixture.js';

/** Debian's chromium package; CI installs it (.ci/run). */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
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

describe('status page layout at 1280×900 with 20 jobs, in headless Chromium', { skip }, () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startFixture({ protocol: 'msgpack' });
  });
  after(async () => {
    await fx?.close();
  });

  test('first paint has data; the log panel beside the list shows step separators with rc and duration and stderr apart', async () => {
    const ids: number[] = [];
    for (let i = 1; i <= 19; i++) ids.push((await call(fx.web, 'POST', '/api/v1/jobs', { worker: fx.name, command: `echo job-${i}` })).body.request_id);
    const last = await call(fx.web, 'POST', '/api/v1/jobs', {
      worker: fx.name,
      steps: [shellStep('echo out-line; echo err-line >&2'), shellStep('echo second-step; exit 3')],
    });
    ids.push(last.body.request_id);
    for (const id of ids) await jobWhen(fx.web, id, finished, 'finished');

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      // What the tables hold at the moment the lists are first shown.
      await page.addInitScript(() => {
        const w = window as unknown as { firstPaint?: { workers: number; jobs: number } };
        new MutationObserver((_, obs) => {
          const main = document.getElementById('main');
          if (main && !main.hidden && !w.firstPaint) {
            w.firstPaint = { workers: document.querySelectorAll('#workers tbody tr').length, jobs: document.querySelectorAll('#jobs tbody tr.job').length };
            obs.disconnect();
          }
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ['hidden'] });
      });
      await page.goto(`${fx.web.url}/?token=${encodeURIComponent(fx.web.token)}`);
      await page.locator('#main').waitFor({ state: 'visible', timeout: 20_000 });
      const firstPaint = await page.evaluate(() => (window as unknown as { firstPaint?: unknown }).firstPaint);
      assert.deepEqual(firstPaint, { workers: 1, jobs: 20 });

      // The newest job is shown: one separator per step, with rc and duration, stderr apart.
      const seps = page.locator('#log .step-sep');
      await page.locator('#log pre.stderr', { hasText: 'err-line' }).waitFor({ timeout: 20_000 });
      await page.locator('#log .step-sep', { hasText: 'rc 3' }).waitFor({ timeout: 20_000 });
      assert.equal(await seps.count(), 2);
      assert.match(await seps.nth(0).innerText(), /step 1[\s\S]*echo out-line[\s\S]*rc 0[\s\S]*\d s[\s\S]*SUCCESS/);
      assert.match(await seps.nth(1).innerText(), /step 2[\s\S]*rc 3[\s\S]*\d s[\s\S]*FAILURE/);
      assert.doesNotMatch(await page.locator('#log pre.stdout').first().innerText(), /err-line/);

      // Timestamps and durations in the jobs table.
      const rows = page.locator('#jobs tbody tr.job');
      assert.equal(await rows.count(), 20);
      const cells = await rows.first().locator('td').allInnerTexts();
      assert.match(cells[6]!, /^\d\d:\d\d:\d\d$/);
      assert.match(cells[7]!, /^\d\d:\d\d:\d\d$/);
      assert.match(cells[8]!, /\d s$/);

      const shot = await page.screenshot();
      assert.deepEqual([...shot.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      if (process.env.STATUS_PAGE_LAYOUT_SCREENSHOT) fs.writeFileSync(process.env.STATUS_PAGE_LAYOUT_SCREENSHOT, shot);

      // Everything above is in the 1280×900 viewport, the log panel beside the list.
      const inView = async (selector: string) => {
        const box = await page.locator(selector).first().boundingBox();
        assert.ok(box, `${selector} is rendered`);
        assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= 1280 && box.y + box.height <= 900, `${selector} in view: ${JSON.stringify(box)}`);
        return box;
      };
      const logBox = await inView('#log-section');
      const jobsBox = (await page.locator('#jobs').boundingBox())!;
      assert.ok(logBox.x >= jobsBox.x + jobsBox.width - 1, `the log panel is beside the jobs table: ${JSON.stringify({ logBox, jobsBox })}`);
      await inView('#log pre.stderr');
      await inView('#log .step-sep >> nth=1');
      await inView('#jobs thead');
    } finally {
      await browser.close();
    }
  });
});
