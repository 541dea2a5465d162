import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitWhenIdleSeconds } from '../../src/config/exit-when-idle.js';

test('exit-when-idle: the flag wins over WORKER_EXIT_WHEN_IDLE; unset or empty means never', () => {
  assert.equal(exitWhenIdleSeconds(undefined, {}), null);
  assert.equal(exitWhenIdleSeconds(undefined, { WORKER_EXIT_WHEN_IDLE: '' }), null);
  assert.equal(exitWhenIdleSeconds(undefined, { WORKER_EXIT_WHEN_IDLE: ' 30 ' }), 30);
  assert.equal(exitWhenIdleSeconds('2.5', { WORKER_EXIT_WHEN_IDLE: '30' }), 2.5);
  assert.equal(exitWhenIdleSeconds('0', {}), 0);
  for (const bad of ['-1', 'soon', '1e3', '99999999', '0x10']) {
    assert.throws(() => exitWhenIdleSeconds(bad, {}), { name: 'ConfigError', message: new RegExp(`^--exit-when-idle must be a number of seconds .*'${bad}'`) });
    assert.throws(() => exitWhenIdleSeconds(undefined, { WORKER_EXIT_WHEN_IDLE: bad }), { name: 'ConfigError', message: /^WORKER_EXIT_WHEN_IDLE must be/ });
  }
});
