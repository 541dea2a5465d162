import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BANANA_ERROR_CODES, CommandError, ERR, HTTP_ERROR_CODES, MSGPACK_ERROR_CODES, WorkerError } from '../src/errors.js';
import { JellyErrorCode } from '../src/protocol/jelly.js';
import { HttpError } from '../src/master/http/http-error.js';

/** The TypeScript sources: this file runs as dist/test/error-codes.test.js. */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const TABLE_FILE = 'error-codes.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('every error code is unique and well-formed', () => {
  const codes = Object.values(ERR);
  assert.ok(codes.length > 50, `the table has only ${codes.length} codes`);
  assert.equal(new Set(codes).size, codes.length, `duplicate codes: ${codes.filter((c, i) => codes.indexOf(c) !== i).join(', ')}`);
  for (const [key, code] of Object.entries(ERR)) {
    assert.match(code, /^ERR_[A-Z0-9_]+$/);
    assert.equal(code, `ERR_${key}`, `key ${key} names its code`);
  }
});

test('the per-codec tables are views onto the one table', () => {
  const all = new Set<string>(Object.values(ERR));
  for (const view of [BANANA_ERROR_CODES, MSGPACK_ERROR_CODES, JellyErrorCode, HTTP_ERROR_CODES]) {
    for (const code of Object.values(view)) assert.ok(all.has(code), `${code} is not in ERR`);
  }
  assert.equal(new HttpError(404, 'no such thing').code, 'ERR_HTTP_404');
});

test('no error code is written inline outside the table', () => {
  const files = sourceFiles(SRC);
  assert.ok(
    files.some((f) => f.endsWith(path.join('src', TABLE_FILE))),
    `sources not found under ${SRC}`,
  );
  const offenders: string[] = [];
  for (const file of files) {
    if (path.relative(SRC, file) === TABLE_FILE) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        // A quoted code, or one built in a template (`ERR_HTTP_${status}`).
        if (/['"]ERR_|`ERR_[A-Z0-9_]*\$\{/.test(line)) offenders.push(`${path.relative(SRC, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(offenders, [], 'use the ERR table (src/error-codes.ts) instead');
});

test('a code outside the table does not compile', () => {
  // @ts-expect-error -- 'ERR_NO_SUCH_CODE' is not an ErrorCode: tsc fails if it ever becomes one.
  const err = new WorkerError('ERR_NO_SUCH_CODE', 'typo');
  assert.equal(err.code, 'ERR_NO_SUCH_CODE');
  // @ts-expect-error -- the subclasses' code parameters are ErrorCode too.
  assert.equal(new CommandError('typo', 'ERR_BAD_ARG').code, 'ERR_BAD_ARG');
});
