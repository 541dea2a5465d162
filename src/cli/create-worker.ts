import fs from 'node:fs';
import path from 'node:path';
import { parseMasterArgument } from '../config/master-address.js';
import { parseMetricsPort } from '../config/metrics-endpoint.js';
import { makeTac, type TacValues } from '../config/tac-template.js';
import { ConfigError } from '../errors.js';
import { UsageError, type Print } from './output.js';
import { strerror } from './worker-dir.js';
import { packagePath } from '../util/package-root.js';

/** create-worker options as given on the command line (strings, validated here like Python). */
export interface CreateWorkerOptions {
  force?: boolean;
  relocatable?: boolean;
  noLogrotate?: boolean;
  useTls?: boolean;
  deleteLeftoverDirs?: boolean;
  keepalive?: string;
  umask?: string;
  maxdelay?: string;
  maxretries?: string;
  numcpus?: string;
  logSize?: string;
  logCount?: string;
  allowShutdown?: string;
  protocol?: string;
  connectionString?: string;
  proxyConnectionString?: string;
  /** Port of the health/metrics endpoint, written to the tac as `metrics_port`. */
  metricsPort?: string;
  quiet?: boolean;
}

const INFO_DEFAULTS: ReadonlyArray<readonly [string, string]> = [
  ['admin', 'Your Name Here <admin@youraddress.invalid>\n'],
  ['host', 'Please put a description of this build host here\n'],
];

/** The info/ templates shipped in the package's info.example/ (same texts as Python's), or the built-in ones. */
function infoTemplates(): Array<[string, string]> {
  return INFO_DEFAULTS.map(([file, text]) => {
    try {
      return [file, fs.readFileSync(packagePath('info.example', file), 'utf8')];
    } catch {
      return [file, text];
    }
  });
}

/** Python int(): surrounding whitespace, sign, digits with single underscores. */
function pyInt(text: string, name: string): number {
  const t = text.trim();
  if (!/^[-+]?[0-9]+(_[0-9]+)*$/.test(t)) throw new UsageError(`${name} parameter needs to be a number`);
  return Number(t.replace(/_/g, ''));
}

const NUMBER_OR_NONE = /^((0o)\d+|0|[1-9]\d*)$/;

/** Validate the options and positionals exactly as `CreateWorkerOptions` does; returns the tac values. */
export function tacValuesFrom(args: string[], o: CreateWorkerOptions, cwd: string = process.cwd()): TacValues {
  if (args.length !== 4) throw new UsageError('incorrect number of arguments');
  const [basedirArg, master, name, passwd] = args as [string, string, string, string];
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseMasterArgument(master));
  } catch (err) {
    throw new UsageError((err as ConfigError).message);
  }
  const keepalive = pyInt(o.keepalive ?? '600', 'keepalive');
  const maxdelay = pyInt(o.maxdelay ?? '300', 'maxdelay');
  const logSize = pyInt(o.logSize ?? '10000000', 'log-size');
  const raw: Record<string, string> = { 'log-count': o.logCount ?? '10', maxretries: o.maxretries ?? 'None', umask: o.umask ?? 'None', numcpus: o.numcpus ?? 'None' };
  for (const [arg, value] of Object.entries(raw)) {
    if (!NUMBER_OR_NONE.test(value) && value !== 'None') throw new UsageError(`${arg} parameter needs to be a number or None`);
  }
  const allow = o.allowShutdown ?? null;
  if (allow !== null && allow !== 'signal' && allow !== 'file') throw new UsageError("allow-shutdown needs to be one of 'signal' or 'file'");
  const protocol = o.protocol ?? 'pb';
  // Python accepts anything here and fails at start; refusing now saves a broken directory.
  if (protocol !== 'pb' && protocol !== 'msgpack_experimental_v7') throw new UsageError(`Unknown protocol ${protocol}: use 'pb' or 'msgpack_experimental_v7'`);
  if (o.connectionString && o.proxyConnectionString) throw new UsageError('--connection-string and --proxy-connection-string cannot be used together');
  let metricsPort: number | null = null;
  if (o.metricsPort !== undefined) {
    try {
      metricsPort = parseMetricsPort(o.metricsPort, '--metrics-port');
    } catch (err) {
      throw new UsageError((err as ConfigError).message);
    }
  }
  const basedir = path.resolve(cwd, basedirArg);
  return {
    basedir: o.relocatable ? '.' : basedir,
    logSize,
    logCount: raw['log-count']!,
    noLogrotate: !!o.noLogrotate,
    host,
    port,
    connectionString: o.connectionString || null,
    name,
    passwd,
    keepalive,
    umask: raw.umask!,
    maxdelay,
    numcpus: raw.numcpus!,
    allowShutdown: allow,
    maxretries: raw.maxretries!,
    useTls: !!o.useTls,
    deleteLeftoverDirs: !!o.deleteLeftoverDirs,
    proxyConnectionString: o.proxyConnectionString || null,
    protocol,
    metricsPort,
  };
}

class CreateWorkerError extends Error {}

function wrap<T>(message: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CreateWorkerError(message, { cause: err });
  }
}

/**
 * `create-worker` (`scripts/create_worker.py createWorker`, `docs/python-worker.md` §2): make the
 * basedir, write buildbot.tac (mode 0600: it holds the password; an existing different one
 * is kept and buildbot.tac.new written), create info/admin and info/host.
 */
export function createWorker(basedir: string, values: TacValues, quiet: boolean, print: Print): number {
  const say = (line: string) => void (quiet ? undefined : print(line));
  const contents = makeTac(values);
  try {
    if (fs.existsSync(basedir)) say('updating existing installation');
    else {
      say(`mkdir ${basedir}`);
      wrap(`error creating directory ${basedir}`, () => fs.mkdirSync(basedir));
    }

    let tacfile = path.join(basedir, 'buildbot.tac');
    let write = true;
    if (fs.existsSync(tacfile)) {
      const old = wrap(`error reading ${tacfile}`, () => fs.readFileSync(tacfile, 'utf8'));
      if (old === contents) {
        say('buildbot.tac already exists and is correct');
        write = false;
      } else {
        say('not touching existing buildbot.tac');
        say('creating buildbot.tac.new instead');
        tacfile = path.join(basedir, 'buildbot.tac.new');
      }
    }
    if (write) {
      wrap(`could not write ${tacfile}`, () => {
        // Created 0600 from the start so the password is never readable by others, even briefly.
        fs.writeFileSync(tacfile, contents, { mode: 0o600 });
        fs.chmodSync(tacfile, 0o600);
      });
    }

    const info = path.join(basedir, 'info');
    if (!fs.existsSync(info)) {
      say(`mkdir ${info}`);
      wrap(`error creating directory ${info}`, () => fs.mkdirSync(info));
    }
    let created = false;
    for (const [file, text] of infoTemplates()) {
      const p = path.join(info, file);
      if (fs.existsSync(p)) {
        created = false;
        continue;
      }
      say(`Creating ${path.join('info', file)}, you need to edit it appropriately.`);
      wrap(`could not write ${p}`, () => fs.writeFileSync(p, text));
      created = true;
    }
    if (!fs.existsSync(path.join(info, 'access_uri'))) say(`Not creating ${path.join('info', 'access_uri')} - add it if you wish`);
    if (created) say(`Please edit the files in ${info} appropriately.`);
  } catch (err) {
    if (!(err instanceof CreateWorkerError)) throw err;
    // Python's two lines, then the reason it leaves out.
    print(`${err.message}\nfailed to configure worker in ${basedir}\n(${strerror(err.cause)})`);
    return 1;
  }
  say(`worker configured in ${basedir}`);
  return 0;
}
