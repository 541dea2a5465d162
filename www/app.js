// Status page of the test master: workers and jobs from the REST API, kept fresh and a
// job's log followed live over the /ws event stream ({k, m} frames).
// The access token travels in the HttpOnly cookie set by opening /?token=TOKEN (the address
// the test master prints); requests that change something are JSON, as the server requires.
'use strict';

// Every URL is relative to the page, so the page works under a proxy's path prefix (--base-url).
const api = (path, init) => fetch('api/v1/' + path, init).then(async (r) => {
  const ct = r.headers.get('content-type') || '';
  const body = ct.includes('json') ? await r.json() : await r.text();
  if (r.status === 401) showLogin();
  if (!r.ok) throw new Error((body && body.error) || r.statusText);
  return body;
});
const post = (path, body, method) => api(path, {
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
  body.replaceChildren(...workers.map((w) => {
    const tr = el('tr');
    tr.append(el('td', w.name), el('td', w.connected ? 'yes' : 'no', w.connected ? 'yes' : 'no'), el('td', w.protocol || ''),
      el('td', w.builders.join(', ')), el('td', w.running === null ? '' : '#' + w.running), el('td', w.queued.length));
    return tr;
  }));
  const sel = $('submit-worker');
  const current = sel.value;
  sel.replaceChildren(...workers.map((w) => { const o = el('option', w.name); o.value = w.name; return o; }));
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

async function refreshJobs() {
  const { jobs } = await api('jobs');
  jobs.sort((a, b) => b.id - a.id);
  const body = $('jobs').tBodies[0];
  body.replaceChildren(...jobs.map((j) => {
    const tr = el('tr', undefined, 'job' + (j.id === selected ? ' selected' : ''));
    tr.dataset.id = j.id;
    tr.append(el('td', '#' + j.id), el('td', j.worker), el('td', j.steps.map((s) => s.command).join(', ')), el('td', j.priority),
      el('td', j.state), el('td', j.result || '', j.result || ''));
    tr.addEventListener('click', () => select(j.id));
    return tr;
  }));
  const job = jobs.find((j) => j.id === selected);
  if (job) {
    $('log-state').textContent = job.state + (job.result ? ' · ' + job.result : '');
    $('log-state').className = 'state ' + (job.result || '');
    $('log-stop').disabled = job.state === 'finished';
  }
}

// ---- the selected job's log ---------------------------------------------------------

// Log chunks carry their offset in the job's log: the snapshot and live chunks may overlap
// or arrive out of order, so append only what extends the text and hold back what leaves a gap.
function applyChunk(offset, text) {
  if (offset > logText.length) { pending.push({ offset, text }); return; }
  const fresh = text.slice(logText.length - offset);
  if (!fresh) return;
  logText += fresh;
  const pre = $('log');
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.append(document.createTextNode(fresh));
  if (atBottom) pre.scrollTop = pre.scrollHeight;
  const waiting = pending;
  pending = [];
  for (const c of waiting) applyChunk(c.offset, c.text);
}

async function select(id) {
  if (selected && selected !== id) send('stopConsuming', { path: `jobs/${selected}/logs` });
  selected = id;
  history.replaceState(null, '', '?job=' + id);
  logText = '';
  pending = [];
  $('log').textContent = '';
  $('log-job').textContent = '#' + id;
  $('log-section').hidden = false;
  await send('startConsuming', { path: `jobs/${id}/logs` });
  const text = await api(`jobs/${id}/log`);
  applyChunk(0, text);
  refreshJobs().catch(() => undefined);
}

// ---- events -------------------------------------------------------------------------

// Without the cookie every request is refused: say how to get in (the token is not typed
// here; the address printed at start-up carries it).
function showLogin() {
  $('login').hidden = false;
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
      if (msg.m.job === selected && msg.m.log === 'stdio') applyChunk(msg.m.offset, msg.m.text);
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
  if (selected) post(`jobs/${selected}/rebuild`).then((r) => select(r.request_id)).catch(() => undefined);
});

refreshWorkers().catch(() => undefined);
connect();
