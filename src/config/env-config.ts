import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { PROTOCOLS, defaultConfig, type Protocol, type WorkerConfig } from './worker-config.js';

/** Largest password file read. */
export const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

/**
 * Configuration from the environment, the contract of the official Docker image's tac
 * (`docs/python-worker.md` §15): BUILDBOT_BASEDIR, BUILDMASTER (localhost), BUILDMASTER_PORT (9989),
 * BUILDMASTER_PROTOCOL (pb), WORKERNAME (docker), WORKERPASS; fixed keepalive 600,
 * maxretries 10, logs to stdout. WORKERPASS_FILE (read, trailing newline dropped) is
 * accepted in place of WORKERPASS so the secret need not sit in the environment.
 */
export function configFromEnvironment(env: Readonly<Record<string, string | undefined>>, cwd: string = process.cwd()): WorkerConfig {
  const cfg = defaultConfig(path.resolve(cwd, env.BUILDBOT_BASEDIR || cwd));
  cfg.host = env.BUILDMASTER || 'localhost';
  const portText = env.BUILDMASTER_PORT ?? '9989';
  if (!/^\s*[0-9]+\s*$/.test(portText) || Number(portText) > 65535) throw new ConfigError(`BUILDMASTER_PORT must be a port number, not '${portText}'`);
  cfg.port = Number(portText);
  const protocol = (env.BUILDMASTER_PROTOCOL || 'pb') as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new ConfigError(`Unknown protocol ${protocol} (BUILDMASTER_PROTOCOL)`);
  cfg.protocol = protocol;
  cfg.workername = env.WORKERNAME || 'docker';
  if (env.WORKERPASS !== undefined) cfg.password = env.WORKERPASS;
  else if (env.WORKERPASS_FILE) cfg.password = readPasswordFile(env.WORKERPASS_FILE);
  else throw new ConfigError('no worker password: set WORKERPASS or WORKERPASS_FILE');
  cfg.maxretries = 10;
  cfg.logToStdout = true;
  cfg.logRotation = null;
  return cfg;
}

export function readPasswordFile(file: string): string {
  let data: Buffer;
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_PASSWORD_FILE_BYTES) throw new ConfigError(`password file '${file}' is larger than ${MAX_PASSWORD_FILE_BYTES} bytes`);
    data = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read password file '${file}': ${(err as Error).message}`, { cause: err });
  }
  return data.toString('utf8').replace(/\r?\n$/, '');
}
