import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LogFollower, MAX_FOLLOW_READ_BYTES } from '../../src/cli/log-follower.js';
import { PID1_WARNING, pid1Warning } from '../../src/cli/pid1.js';
import { tempdir } from './cli-helpers.js';

test('LogFollower returns complete new lines only, from the end at creation; follows a rotation', () => {
  const file = path.join(tempdir(), 'twistd.log');
  fs.writeFileSync(file, 'old line\n');
  const f = new LogFollower(file);
  assert.deepEqual(f.poll(), []);
  fs.appendFileSync(file, 'one\ntw');
  assert.deepEqual(f.poll(), ['one']);
  fs.appendFileSync(file, 'o\n');
  assert.deepEqual(f.poll(), ['two']);
  fs.writeFileSync(file, 'after rotation\n');
  assert.deepEqual(f.poll(), ['after rotation']);
  fs.rmSync(file);
  assert.deepEqual(f.poll(), []);
});

test('LogFollower of a file that does not exist yet reads it from the start; an endless line is passed on', () => {
  const file = path.join(tempdir(), 'twistd.log');
  const f = new LogFollower(file);
  assert.deepEqual(f.poll(), []);
  fs.writeFileSync(file, 'first\n' + 'x'.repeat(MAX_FOLLOW_READ_BYTES + 10));
  assert.deepEqual(f.poll(), ['first']);
  // The unterminated line is handed on once it outgrows one read, not held without bound.
  const rest = f.poll();
  assert.deepEqual(
    rest.map((l) => l.length),
    [MAX_FOLLOW_READ_BYTES + 10],
  );
  assert.deepEqual(f.poll(), []);
});

test('PID 1 gets the init warning', () => {
  assert.equal(pid1Warning(1), PID1_WARNING);
  assert.match(PID1_WARNING, /tini|--init/);
  assert.equal(pid1Warning(4242), undefined);
});
