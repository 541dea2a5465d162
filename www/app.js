// Status page of the test master: workers and jobs from the REST API, kept fresh and a
// job's log followed live over the /ws event stream ({k, m} frames).
// The access token travels in the HttpOnly cookie set by opening /?token=TOKEN (the address
// the test master prints); requests that change something are JSON, as the server requires.
'use strict';

// Every URL is relative to the page, so the page works under a proxy's path prefix (--base-url).
const api = (path, init) =>
  fetch('api/v1/' + path, init).then(async (r) => {
    const ct = r.headers.get('content-type') || '';
    const body = ct.includes('json') ? await r.json() : await r.text();
    if (r.status === 401) showLogin();
    if (!r.ok) throw new Error((body && body.error) || r.statusText);
    return body;
  });
const post = (path, body, method) =>
  api(path, {
    method: method || 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body || {}),
  });

const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};

let selected = Number(new URLSearchParams(location.search).get('job')) || null;
let logText = '';
let pending = [];
let socket;
let nextId = 1;
const answers = new Map();

function send(cmd, fields) {
  const _id = nextId++;
  return new Promise((resolve) => {
    answers.set(_id, resolve);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(Object.assign({ cmd, _id }, fields)));
  });
}

// ---- workers and jobs ---------------------------------------------------------------

async function refreshWorkers() {
  const { workers } = await api('workers');
  const body = $('workers').tBodies[0];
  body.replaceChildren(
    ...workers.map((w) => {
      const tr = el('tr');
      tr.append(
        el('td', w.name),
        el('td', w.connected ? 'yes' : 'no', w.connected ? 'yes' : 'no'),
        el('td', w.protocol || ''),
        el('td', w.builders.join(', ')),
        el('td', w.running.map((id) => '#' + id).join(', ')),
        el('td', w.queued.length),
      );
      return tr;
    }),
  );
  const sel = $('submit-worker');
  const current = sel.value;
  sel.replaceChildren(
    ...workers.map((w) => {
      const o = el('option', w.name);
      o.value = w.name;
      return o;
    }),
  );
  if (current) sel.value = current;
}

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshWorkers().catch(() => undefined);
    refreshJobs().catch(() => undefined);
  }, 100);
}

const pad = (n) => String(n).padStart(2, '0');
const clock = (ms) => {
  if (!ms) return '';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return '';
  if (seconds < 60) return seconds.toFixed(seconds < 10 ? 2 : 1) + ' s';
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m ${pad(Math.floor(seconds % 60))}s` : `${Math.floor(m / 60)}h ${pad(m % 60)}m`;
}
const jobSeconds = (j) => (j.started_at ? ((j.finished_at || Date.now()) - j.started_at) / 1000 : null);

async function refreshJobs() {
  const { jobs } = await api('jobs');
  jobs.sort((a, b) => b.id - a.id);
  const body = $('jobs').tBodies[0];
  if (!jobs.length) {
    const td = el('td', 'No jobs yet: run one with the form above, or POST to api/v1/jobs.', 'empty');
    td.colSpan = 9;
    body.replaceChildren(el('tr'));
    body.rows[0].append(td);
  } else {
    body.replaceChildren(
      ...jobs.map((j) => {
        const tr = el('tr', undefined, 'job' + (j.id === selected ? ' selected' : ''));
        tr.dataset.id = j.id;
        if (j.state === 'running') tr.dataset.started = j.started_at;
        tr.append(
          el('td', '#' + j.id),
          el('td', j.worker),
          el('td', j.steps.map((s) => s.command).join(', ')),
          el('td', j.priority, 'num'),
          el('td', j.state),
          el('td', j.result || '', j.result || ''),
          el('td', clock(j.submitted_at), 'time'),
          el('td', clock(j.started_at), 'time'),
          el('td', duration(jobSeconds(j)), 'time duration'),
        );
        tr.addEventListener('click', () => select(j.id));
        return tr;
      }),
    );
  }
  const job = jobs.find((j) => j.id === selected);
  if (job) showJob(job);
  return jobs;
}

// Running jobs' durations tick between refreshes.
setInterval(() => {
  for (const tr of document.querySelectorAll('#jobs tr[data-started]')) {
    tr.querySelector('.duration').textContent = duration((Date.now() - Number(tr.dataset.started)) / 1000);
  }
}, 1000);

// ---- the selected job's log ---------------------------------------------------------

// The log panel holds one block per started step: a separator (command, rc, duration,
// result) and the step's text. While a step runs its text is the live stdio (split out of the
// job's log by the steps' offsets); once it finished, its header, stdout and stderr are shown
// apart from its own logs.
let stepOffsets = [];
let blocks = new Map();
let currentJob = null;

function showJob(job) {
  currentJob = job;
  $('log-state').textContent = job.state + (job.result ? ' · ' + job.result : '');
  $('log-state').className = 'state ' + (job.result || '');
  $('log-stop').disabled = job.state === 'finished';
  for (const s of job.steps) if (s.log_offset !== undefined) stepOffsets[s.index] = s.log_offset;
  renderSteps();
}

function stepCommand(s) {
  const c = s.args && s.args.command;
  if (s.command === 'shell') return Array.isArray(c) ? c.join(' ') : String(c || '');
  return s.command + ' ' + JSON.stringify(s.args || {});
}

function renderSteps() {
  if (!currentJob || currentJob.id !== selected) return;
  const log = $('log');
  for (const s of currentJob.steps) {
    if (s.state === 'pending' || (s.state === 'skipped' && stepOffsets[s.index] === undefined)) continue;
    let b = blocks.get(s.index);
    if (!b) {
      const hint = log.querySelector('.hint');
      if (hint) hint.remove();
      b = { sep: el('div', undefined, 'step-sep'), body: el('div', undefined, 'step-body'), split: false, live: el('pre', undefined, 'stdio') };
      b.sep.dataset.step = s.index;
      b.body.append(b.live);
      blocks.set(s.index, b);
      // Blocks in step order.
      const after = [...blocks.keys()].filter((k) => k > s.index).sort((x, y) => x - y)[0];
      const before = after === undefined ? null : blocks.get(after).sep;
      log.insertBefore(b.sep, before);
      log.insertBefore(b.body, before);
    }
    const rcClass = s.rc === null || s.rc === undefined ? '' : s.rc === 0 ? 'rc ok' : 'rc bad';
    b.sep.replaceChildren(
      el('span', `step ${s.index + 1}`),
      el('span', stepCommand(s), 'cmd'),
      el('span', s.rc === null || s.rc === undefined ? (s.state === 'running' ? 'running' : s.state) : `rc ${s.rc}`, rcClass),
      el('span', duration(s.elapsed), 'dur'),
      el('span', s.result || '', s.result || ''),
    );
    if (s.state === 'finished' && !b.split) {
      b.split = true;
      api(`jobs/${currentJob.id}/steps/${s.index}/logs`)
        .then(({ logs }) => {
          const parts = [];
          // The header (command, directory, environment) folds away: the output is what one reads.
          if (logs.header) {
            const d = el('details', undefined, 'header');
            d.append(el('summary', `header · ${logs.header.split('\n')[0].slice(0, 120)}`), el('pre', logs.header));
            parts.push(d);
          }
          if (logs.stdout) parts.push(el('pre', logs.stdout, 'stdout'));
          if (logs.stderr) parts.push(el('pre', logs.stderr, 'stderr'));
          b.body.replaceChildren(...parts);
        })
        .catch(() => {
          b.split = false;
        });
    }
  }
  renderLive();
}

// Put each step's slice of the job's log into its live block.
function renderLive() {
  for (const [i, b] of blocks) {
    if (b.split || stepOffsets[i] === undefined) continue;
    const next = stepOffsets.slice(i + 1).find((o) => o !== undefined);
    const text = logText.slice(stepOffsets[i], next === undefined ? logText.length : next);
    if (b.live.textContent.length !== text.length) b.live.textContent = text;
  }
  const log = $('log');
  if (log.scrollTop + log.clientHeight >= log.scrollHeight - 40) log.scrollTop = log.scrollHeight;
}

// Log chunks carry their offset in the job's log: the snapshot and live chunks may overlap
// or arrive out of order, so append only what extends the text and hold back what leaves a gap.
function applyChunk(offset, text) {
  if (offset > logText.length) {
    pending.push({ offset, text });
    return;
  }
  const fresh = text.slice(logText.length - offset);
  if (!fresh) return;
  logText += fresh;
  const waiting = pending;
  pending = [];
  for (const c of waiting) applyChunk(c.offset, c.text);
}

async function select(id) {
  if (selected && selected !== id) {
    send('stopConsuming', { path: `jobs/${selected}/logs` });
    send('stopConsuming', { path: `jobs/${selected}/steps/*/finished` });
  }
  selected = id;
  history.replaceState(null, '', '?job=' + id);
  logText = '';
  pending = [];
  stepOffsets = [];
  blocks = new Map();
  currentJob = null;
  $('log').replaceChildren();
  $('log-job').textContent = '#' + id;
  for (const tr of document.querySelectorAll('#jobs tr.job')) tr.classList.toggle('selected', Number(tr.dataset.id) === id);
  await Promise.all([send('startConsuming', { path: `jobs/${id}/logs` }), send('startConsuming', { path: `jobs/${id}/steps/*/finished` })]);
  const text = await api(`jobs/${id}/log`);
  applyChunk(0, text);
  showJob(await api(`jobs/${id}`));
}

// ---- events -------------------------------------------------------------------------

// Without the cookie every request is refused: say how to get in (the token is not typed
// here; the address printed at start-up carries it).
function showLogin() {
  $('login').hidden = false;
  $('loading').hidden = true;
}

function connect() {
  const wsUrl = new URL('ws', location.href);
  wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  wsUrl.search = '';
  socket = new WebSocket(wsUrl.href);
  socket.onopen = () => {
    $('conn').textContent = 'events: live';
    $('conn').className = 'badge on';
    for (const p of ['workers/*/*', 'jobs/*/new', 'jobs/*/started', 'jobs/*/updated', 'jobs/*/finished']) send('startConsuming', { path: p });
    scheduleRefresh();
    if (selected) select(selected);
  };
  socket.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg._id !== undefined) {
      const resolve = answers.get(msg._id);
      answers.delete(msg._id);
      if (resolve) resolve(msg);
      return;
    }
    if (!msg.k) return;
    if (msg.k.endsWith('/logs')) {
      if (msg.m.job === selected && msg.m.log === 'stdio') {
        if (stepOffsets[msg.m.step] === undefined) {
          stepOffsets[msg.m.step] = msg.m.offset;
          api(`jobs/${selected}`)
            .then(showJob)
            .catch(() => undefined);
        }
        applyChunk(msg.m.offset, msg.m.text);
        renderLive();
      }
    } else if (selected && msg.k.startsWith(`jobs/${selected}/steps/`)) {
      api(`jobs/${selected}`)
        .then(showJob)
        .catch(() => undefined);
    } else {
      scheduleRefresh();
    }
  };
  socket.onclose = () => {
    $('conn').textContent = 'events: reconnecting';
    $('conn').className = 'badge off';
    setTimeout(connect, 2000);
  };
}

$('submit').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = Object.fromEntries(new FormData(ev.target));
  try {
    const r = await post('jobs', form);
    $('submit-result').textContent = r.msg;
    select(r.request_id);
  } catch (err) {
    $('submit-result').textContent = String(err.message || err);
  }
});

$('log-stop').addEventListener('click', () => {
  if (selected) post(`jobs/${selected}`, {}, 'DELETE').catch(() => undefined);
});
$('log-rebuild').addEventListener('click', () => {
  if (selected)
    post(`jobs/${selected}/rebuild`)
      .then((r) => select(r.request_id))
      .catch(() => undefined);
});

// First paint with data: the lists appear once workers and jobs are both loaded; the newest
// job is shown when the address names none.
Promise.all([refreshWorkers(), refreshJobs()])
  .then(([, jobs]) => {
    $('loading').hidden = true;
    $('main').hidden = false;
    if (!selected && jobs.length) selected = jobs[0].id;
    connect();
  })
  .catch(() => {
    $('loading').hidden = true;
    connect();
  });
