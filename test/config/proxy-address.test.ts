import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transportOptionsFor } from '../../src/config/connection-string.js';
import { parseProxyAddress, redactProxyPassword } from '../../src/config/proxy-address.js';

test('proxy settings: Twisted tcp: endpoints and http:// URLs with credentials', () => {
  assert.deepEqual(parseProxyAddress('tcp:proxy:3128'), { host: 'proxy', port: 3128 });
  assert.deepEqual(parseProxyAddress('tcp:host=proxy:port=8080'), { host: 'proxy', port: 8080 });
  assert.deepEqual(parseProxyAddress('http://proxy.example:3128'), { host: 'proxy.example', port: 3128 });
  assert.deepEqual(parseProxyAddress('http://u%20x:p%40ss%3Aw@10.0.0.1:3128/'), { host: '10.0.0.1', port: 3128, username: 'u x', password: 'p@ss:w' });
  assert.deepEqual(parseProxyAddress('http://user@[::1]:3128'), { host: '::1', port: 3128, username: 'user', password: '' });
  assert.deepEqual(transportOptionsFor({ host: 'bm', port: 9989, connectionString: null, useTls: false, proxyConnectionString: 'http://a:b@px:1' }), {
    host: 'bm',
    port: 9989,
    proxy: { host: 'px', port: 1, username: 'a', password: 'b' },
  });
});

test('bad proxy settings are ConfigErrors that do not show the password', () => {
  for (const [text, re] of [
    ['tls:proxy:3128', /must be a tcp: endpoint or an http:\/\/ URL/],
    ['https://proxy:3128', /only http:\/\/ proxies/],
    ['http://proxy', /has no port/],
    ['http://u:secret@proxy:1/path', /must not have a path/],
    ['http://u:secret@proxy:99999', /not valid/],
    ['http://u%ZZ:secret@proxy:1', /bad percent-encoding/],
    ['tcp:proxy', /no valid port/],
    ['x'.repeat(5000), /longer than 4096/],
  ] as const) {
    assert.throws(
      () => parseProxyAddress(text),
      (err: Error) => {
        assert.equal(err.name, 'ConfigError', text);
        assert.match(err.message, re);
        assert.ok(!err.message.includes('secret'), err.message);
        return true;
      },
    );
  }
  assert.equal(redactProxyPassword('http://u:secret@proxy:1'), 'http://u:***@proxy:1');
});
