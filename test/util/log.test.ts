import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createWorkerLog, formatRecord } from '../../src/util/log.js';
import { RotatingFile } from '../../src/util/rotating-file.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'log-test-'));

test('rotation follows Twisted LogFile: rotate before a write once the size is reached, keep maxRotatedFiles', () => {
  const dir = tmp();
  const f = new RotatingFile(path.join(dir, 'twistd.log'), 10, 2);
  for (const s of ['aaaaaaaaaa', 'bbbbb', 'bbbbb', 'ccccccccccc', 'dd']) f.write(s);
  f.close();
  assert.equal(fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8'), 'dd');
  assert.equal(fs.readFileSync(path.join(dir, 'twistd.log.1'), 'utf8'), 'ccccccccccc');
  assert.equal(fs.readFileSync(path.join(dir, 'twistd.log.2'), 'utf8'), 'bbbbbbbbbb');
  assert.ok(!fs.existsSync(path.join(dir, 'twistd.log.3')), 'the oldest file is dropped');
});

test('unlimited rotated files when maxRotatedFiles is null; an existing file keeps its size', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'twistd.log'), '12345');
  const f = new RotatingFile(path.join(dir, 'twistd.log'), 5, null);
  for (let i = 0; i < 4; i++) f.write('xxxxx');
  f.close();
  assert.deepEqual(fs.readdirSync(dir).sort(), ['twistd.log', 'twistd.log.1', 'twistd.log.2', 'twistd.log.3', 'twistd.log.4']);
  assert.equal(fs.readFileSync(path.join(dir, 'twistd.log.4'), 'utf8'), '12345');
});

test('twistd.log gets Twisted-style text lines; stdout too when asked', () => {
  const dir = tmp();
  const out: string[] = [];
  const { log, close } = createWorkerLog({ basedir: dir, stdout: true, stdoutWrite: (l) => void out.push(l) });
  log.info('message from master: attached');
  log.child({ protocol: 'pb' }).warn({ attempt: 3 }, 'will retry in 5 seconds');
  close();
  const text = fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8');
  assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} \[-\] message from master: attached\n/);
  assert.match(text, /\[Broker,client\] will retry in 5 seconds \(attempt=3\)\n$/);
  assert.equal(out.join(''), text);
});

test('the password is redacted from fields and masked in free text', () => {
  const dir = tmp();
  const { log, close } = createWorkerLog({ basedir: dir, secrets: ['s3cret"pw'] });
  log.info({ password: 's3cret"pw', config: { password: 'x' } }, 'login as w1 with s3cret"pw');
  log.error({ err: new Error('bad s3cret"pw') }, 'failed');
  close();
  const text = fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8');
  assert.ok(!text.includes('s3cret'), text);
  assert.ok(text.includes('<redacted>'));
  assert.match(text, /failed\n\tError: bad <redacted>/);
});

test('formatRecord keeps extra fields and uses the system binding', () => {
  const line = formatRecord({ level: 30, time: 0, msg: 'hello', system: 'command 3', rc: 0 });
  assert.match(line, /\[command 3\] hello \(rc=0\)\n$/);
});

test("the timestamp is Twisted's: local time, a space, the ±HHMM offset", () => {
  const line = formatRecord({ level: 30, time: Date.UTC(2026, 11, 1, 21, 33, 59), msg: 'x' });
  const d = new Date(Date.UTC(2026, 11, 1, 21, 33, 59));
  const off = -d.getTimezoneOffset();
  const p = (n: number) => String(n).padStart(2, '0');
  const want = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${off >= 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  assert.equal(line, `${want} [-] x\n`);
  if (off === 0) assert.equal(line, '2026-12-01 21:33:59+0000 [-] x\n');
});

test('json format writes pino records (masked); stderr gets the same lines when asked', () => {
  const dir = tmp();
  const { log, close } = createWorkerLog({ basedir: dir, format: 'json', secrets: ['hunter22'] });
  log.child({ commandId: '3' }).info('login with hunter22');
  close();
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'twistd.log'), 'utf8')) as Record<string, unknown>;
  assert.equal(rec.msg, 'login with <redacted>');
  assert.equal(rec.commandId, '3');
  assert.equal(rec.level, 30);
});

test('text lines leave out the commandId binding (JSON keeps it)', () => {
  assert.equal(
    formatRecord({ level: 30, time: 0, msg: ' startCommand:shell [id 3]', commandId: '3', system: 'Broker,client' }).replace(/^.*? \[/, '['),
    '[Broker,client]  startCommand:shell [id 3]\n',
  );
});
