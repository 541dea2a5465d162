import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterEnvironment, scrubEnvironment } from '../../src/worker/environment.js';

test('the blacklist defaults to the password variables', () => {
  const env = filterEnvironment({ WORKERPASS: 's', WORKERPASS_FILE: '/f', HOME: '/h', UNSET: undefined });
  assert.deepEqual(env, { HOME: '/h' });
});

test('WORKER_ENVIRONMENT_BLACKLIST patterns are space separated fnmatch patterns', () => {
  const env = filterEnvironment({ WORKER_ENVIRONMENT_BLACKLIST: 'AWS_* *TOKEN', AWS_KEY: 'k', GH_TOKEN: 't', WORKERPASS: 'p', PATH: '/bin' });
  assert.deepEqual(env, { WORKER_ENVIRONMENT_BLACKLIST: 'AWS_* *TOKEN', WORKERPASS: 'p', PATH: '/bin' });
});

test('scrubEnvironment removes in place and says what it removed', () => {
  const env: Record<string, string | undefined> = { WORKERPASS: 's', KEEP: '1' };
  assert.deepEqual(scrubEnvironment(env), ['WORKERPASS']);
  assert.deepEqual(env, { KEEP: '1' });
});
