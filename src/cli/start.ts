import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LOG_FILE_NAME } from '../util/log.js';
import type { Print } from './output.js';
import { LogFollower } from './log-follower.js';
import { runWorker, type RunWorkerOptions } from './run-worker.js';
import { TWISTD_ALREADY_RUNNING, runningWorkerPid } from './pid-file.js';
import { packagePath } from '../util/package-root.js';

/** `start` waits this long for `message from master: attached` (Python's LogWatcher.TIMEOUT_DELAY). */
export const START_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

export const ATTACHED_MARKER = 'message from master: attached';

const TIMEOUT_HINT = [
  'The worker took more than 10 seconds to start and/or connect',
  'to the buildmaster, so we were unable to confirm that it',
  'started and connected correctly.',
  "Please 'tail twistd.log' and look for a line that says",
  "'message from master: attached' to verify correct startup.",
  "If you see a bunch of messages like 'will retry in 6 seconds',",
  'your worker might not have the correct hostname or portnumber',
  'for the buildmaster, or the buildmaster might not be running.',
  'If you see messages like',
  "   'unauthorized login; check worker name and password'",
  'then your worker might be using the wrong botname or password.',
  'Please correct these problems and then restart the worker.',
].join('\n');

const UNCONFIRMED_HINT = 'Unable to confirm that the worker started correctly.\nYou may need to stop it, fix the config file, and restart.';

/** The script that runs this CLI (bin/worker.js), to start the daemon child with. */
function cliScript(): string {
  return packagePath('bin', 'worker.js');
}

/** `start`'s options: the worker's own (run-worker.ts) and how to start it. */
export interface StartOptions extends Omit<RunWorkerOptions, 'daemonChild'> {
  nodaemon?: boolean;
  quiet?: boolean;
}

/**
 * `start [--nodaemon] [-q] BASEDIR` (`scripts/start.py`, `docs/python-worker.md` §1). In the
 * foreground the worker runs in this process. Otherwise a detached child runs it and this
 * process follows twistd.log until the master says `attached` (exit 0), the child dies, or
 * 10 s pass (exit 1 with Python's hints). `--quiet` starts the daemon without following.
 */
export async function startWorker(basedir: string, opts: StartOptions, print: Print): Promise<number> {
  if (opts.nodaemon) {
    const { exitWhenIdle, metricsPort, metricsHost, logFormat, logLevel, verbose } = opts;
    return runWorker(basedir, { exitWhenIdle, metricsPort, metricsHost, logFormat, logLevel, verbose }, print);
  }
  const running = runningWorkerPid(basedir);
  if (running !== undefined) {
    print(TWISTD_ALREADY_RUNNING(running));
    return 1;
  }
  const logFile = path.join(basedir, LOG_FILE_NAME);
  // Like Python's LogWatcher: make sure the file exists, then follow it from its current end.
  try {
    fs.closeSync(fs.openSync(logFile, 'a'));
  } catch {
    /* the worker may log to stdout only (container config); the child's exit still tells */
  }
  const follower = new LogFollower(logFile);
  const extra = [
    ...(opts.exitWhenIdle !== undefined ? ['--exit-when-idle', opts.exitWhenIdle] : []),
    ...(opts.metricsPort !== undefined ? ['--metrics-port', opts.metricsPort] : []),
    ...(opts.metricsHost !== undefined ? ['--metrics-host', opts.metricsHost] : []),
    ...(opts.logFormat !== undefined ? ['--log-format', opts.logFormat] : []),
    ...(opts.logLevel !== undefined ? ['--log-level', opts.logLevel] : []),
  ];
  const child = spawn(process.execPath, [cliScript(), 'start', '--nodaemon', '--daemon-child', ...extra, basedir], {
    cwd: basedir,
    detached: true,
    stdio: 'ignore',
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code ?? 1));
  child.on('error', () => (exited = 1));
  child.unref();
  if (opts.quiet) return 0;
  if (opts.logLevel !== undefined && !['trace', 'debug', 'info'].includes(opts.logLevel)) {
    // The line that confirms the start is an info line: there is nothing to wait for.
    print(`Not following twistd.log: --log-level ${opts.logLevel} leaves out '${ATTACHED_MARKER}'.`);
    return 0;
  }

  print('Following twistd.log until startup finished..');
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    for (const line of follower.poll()) {
      print(line);
      if (line.includes(ATTACHED_MARKER)) {
        print('The buildbot-worker appears to have (re)started correctly.');
        return 0;
      }
    }
    if (exited !== undefined) {
      print(UNCONFIRMED_HINT);
      print(`The worker process exited with code ${exited}.`);
      return 1;
    }
    if (Date.now() >= deadline) {
      print(TIMEOUT_HINT);
      return 1;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
