import path from 'node:path';
import type { Command, Option } from 'commander';
import { DEFAULT_MAX_FINISHED_JOBS, DEFAULT_MAX_FINISHED_LOG_BYTES } from '../master/http/job-retention.js';
import { WORKER_VERSION } from '../worker/version.js';
import { COMMAND_VERSION } from '../commands/version.js';
import type { CreateWorkerOptions } from './create-worker.js';
import { printStdout, UsageError, type Print } from './output.js';
import { isWorkerDir } from './worker-dir.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../util/log.js';
import fs from 'node:fs';
import { requireCjs } from '../util/require-cjs.js';

const commander = requireCjs('commander') as typeof import('commander');

/**
 * The `buildbot-worker` command line (`scripts/runner.py`, `docs/python-worker.md` §1–2):
 * create-worker, start, stop, restart, with Python's options, messages and exit codes.
 *
 * Each subcommand's implementation is imported when it runs: `start` then never loads
 * the test master, the demo or the stop logic (startup time and memory of the worker).
 */

const CREATE_WORKER_DESCRIPTION = `Create and populate a directory for a new worker

This command creates a buildbot worker directory and buildbot.tac
file. The bot will use the <name> and <passwd> arguments to authenticate
itself when connecting to the master. All commands are run in a
build-specific subdirectory of <basedir>. <master> is a string of the
form 'hostname[:port]', and specifies where the buildmaster can be reached.
port defaults to 9989.

The appropriate values for <name>, <passwd>, and <master> should be
provided to you by the buildmaster administrator. You must choose <basedir>
yourself.`;

/** The basedir argument of start/stop/restart: the current directory by default, made absolute. */
function basedirOf(args: string[]): string {
  if (args.length > 1) throw new UsageError("I wasn't expecting so many arguments");
  return path.resolve(args[0] ?? process.cwd());
}

/** A worker directory, or a container configured by the environment (no tac, BUILDMASTER set). */
function checkWorkerDir(basedir: string, print: Print): boolean {
  if (!fs.existsSync(path.join(basedir, 'buildbot.tac')) && process.env.BUILDMASTER !== undefined) return true;
  return isWorkerDir(basedir, print);
}

interface StartCliOptions {
  quiet?: boolean;
  nodaemon?: boolean;
  exitWhenIdle?: string;
  metricsPort?: string;
  metricsHost?: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
}

/** `--log-format text|json` of start/restart (an addition: the Python worker has text only). */
function logFormatOption(): Option {
  return new commander.Option('--log-format <format>', "twistd.log's format: Twisted's text lines, or pino's JSON lines").choices(LOG_FORMATS).default('text');
}

/** `--log-level` of start/restart (an addition): the least severe level logged. */
function logLevelOption(): Option {
  return new commander.Option('--log-level <level>', 'the least severe messages logged').choices(LOG_LEVELS).default('info');
}

export function buildProgram(print: Print, setCode: (code: number) => void): Command {
  const program = new commander.Command('buildbot-worker');
  program
    .usage('<command> [command options]')
    .description('A Buildbot worker: connects to a buildmaster and runs the commands it sends.')
    // Python prints its own version and Twisted's; this worker names the command protocol
    // version it reports to masters (getCommands) and the Node that runs it.
    .version(`worker version: ${WORKER_VERSION}\nworker command version: ${COMMAND_VERSION}\nNode version: ${process.versions.node}`, '--version', 'Display the version and exit')
    .option('--verbose', 'Also write the log to stderr (start/restart in the foreground)')
    .helpOption('-h, --help', 'Display this message')
    .showHelpAfterError(false)
    .exitOverride()
    // Errors are printed once, by main(), with the usage like Python's; commander's own copy is dropped.
    .configureOutput({ writeOut: (s) => print(s.replace(/\n$/, '')), writeErr: (s) => print(s.replace(/\n$/, '')), outputError: () => {} });

  program
    .command('create-worker')
    .summary('Create and populate a directory for a new worker')
    .description(CREATE_WORKER_DESCRIPTION)
    .usage('[options] <basedir> <master> <name> <passwd>')
    .helpOption('-h, --help', 'Display this message')
    .argument('[args...]')
    .option('-f, --force', 'Re-use an existing directory')
    .option('-r, --relocatable', 'Create a relocatable buildbot.tac')
    .option('-n, --no-logrotate', 'Do not permit buildmaster rotate logs by itself')
    .option('--use-tls', 'Uses TLS to connect to master')
    .option('--delete-leftover-dirs', 'Delete folders that are not required by the master on connection')
    .option('-k, --keepalive <keepalive>', 'Interval at which keepalives should be sent (in seconds)', '600')
    .option('--umask <umask>', 'controls permissions of generated files. Use --umask=0o22 to be world-readable', 'None')
    .option('--maxdelay <maxdelay>', 'Maximum time between connection attempts', '300')
    .option('--maxretries <maxretries>', 'Maximum number of retries before worker shutdown', 'None')
    .option('--numcpus <numcpus>', 'Number of available cpus to use on a build. ', 'None')
    .option('-s, --log-size <log-size>', 'size at which to rotate twisted log files', '10000000')
    .option('-l, --log-count <log-count>', 'limit the number of kept old twisted log files (None for unlimited)', '10')
    .option('-a, --allow-shutdown <allow-shutdown>', "Allows the worker to initiate a graceful shutdown. One of 'signal' or 'file'")
    .option('--protocol <protocol>', 'Protocol to be used when creating master-worker connection (pb or msgpack_experimental_v7)', 'pb')
    .option('--connection-string <connection-string>', 'Twisted endpoint connection string (this will override master host[:port])')
    .option('--proxy-connection-string <proxy-connection-string>', 'Address of HTTP proxy to tunnel through')
    .option('--metrics-port <port>', 'Serve /metrics (Prometheus) and /healthz on 127.0.0.1:PORT (written to buildbot.tac as metrics_port)')
    .option('-q, --quiet', 'Do not emit the commands being run')
    .action(async (args: string[], o: CreateWorkerOptions & { logrotate?: boolean }) => {
      const { createWorker, tacValuesFrom } = await import('./create-worker.js');
      const values = tacValuesFrom(args, { ...o, noLogrotate: o.logrotate === false });
      setCode(createWorker(path.resolve(args[0]!), values, !!o.quiet, print));
    });

  program
    .command('start')
    .summary('Start a worker')
    .description('Start a worker\n\nOperates upon the specified <basedir> (or the current directory, if not specified).')
    .usage('[options] [<basedir>]')
    .helpOption('-h, --help', 'Display this message')
    .argument('[basedir...]')
    .option('-q, --quiet', "Don't display startup log messages")
    .option('--nodaemon', "Don't daemonize (stay in foreground)")
    .option('--exit-when-idle <seconds>', 'Stop (exit 0) once no command has run for this many seconds after attaching; for one-shot and latent containers (env WORKER_EXIT_WHEN_IDLE)')
    .option('--metrics-port <port>', 'Serve /metrics (Prometheus text) and /healthz on this port (env WORKER_METRICS_PORT; default: off)')
    .option('--metrics-host <host>', 'Interface of the metrics endpoint (env WORKER_METRICS_HOST; default 127.0.0.1)')
    .addOption(logFormatOption())
    .addOption(logLevelOption())
    .addOption(new commander.Option('--daemon-child').hideHelp())
    .action(async (args: string[], o: StartCliOptions & { daemonChild?: boolean }) => {
      const basedir = basedirOf(args);
      if (!checkWorkerDir(basedir, print)) return setCode(1);
      const verbose = !!program.opts().verbose;
      if (o.daemonChild) {
        const { runWorker } = await import('./run-worker.js');
        return setCode(
          await runWorker(basedir, { daemonChild: true, exitWhenIdle: o.exitWhenIdle, metricsPort: o.metricsPort, metricsHost: o.metricsHost, logFormat: o.logFormat, logLevel: o.logLevel }, print),
        );
      }
      const { startWorker } = await import('./start.js');
      setCode(await startWorker(basedir, { ...o, verbose }, print));
    });

  program
    .command('stop')
    .summary('Stop a worker')
    .description('Stop a worker\n\nOperates upon the specified <basedir> (or the current directory, if not specified).')
    .usage('[options] [<basedir>]')
    .helpOption('-h, --help', 'Display this message')
    .argument('[basedir...]')
    .option('-q, --quiet', 'Do not emit the commands being run')
    .option('--graceful', 'Let running commands finish first (the master starts no new build on this worker), then stop')
    .option('--wait <seconds>', 'How long to wait for the worker to stop (default 10, with --graceful 3600)')
    .action(async (args: string[], o: { quiet?: boolean; graceful?: boolean; wait?: string }) => {
      const basedir = basedirOf(args);
      const { parseWaitSeconds, stopCommand } = await import('./stop.js');
      const waitMs = parseWaitSeconds(o.wait);
      if (!checkWorkerDir(basedir, print)) return setCode(1);
      setCode(await stopCommand(basedir, { quiet: !!o.quiet, graceful: !!o.graceful, waitMs }, print));
    });

  program
    .command('restart')
    .summary('Restart a worker')
    .description('Restart a worker\n\nOperates upon the specified <basedir> (or the current directory, if not specified).')
    .usage('[options] [<basedir>]')
    .helpOption('-h, --help', 'Display this message')
    .argument('[basedir...]')
    .option('-q, --quiet', "Don't display startup log messages")
    .option('--nodaemon', "Don't daemonize (stay in foreground)")
    .option('--graceful', 'Let running commands finish before stopping the old worker')
    .option('--wait <seconds>', 'How long to wait for the old worker to stop (default 10, with --graceful 3600)')
    .option('--metrics-port <port>', 'Serve /metrics (Prometheus text) and /healthz on this port (env WORKER_METRICS_PORT; default: off)')
    .option('--metrics-host <host>', 'Interface of the metrics endpoint (env WORKER_METRICS_HOST; default 127.0.0.1)')
    .addOption(logFormatOption())
    .addOption(logLevelOption())
    .action(async (args: string[], o: StartCliOptions & { graceful?: boolean; wait?: string }) => {
      const basedir = basedirOf(args);
      const [{ parseWaitSeconds, stopWorker }, { startWorker }] = await Promise.all([import('./stop.js'), import('./start.js')]);
      const waitMs = parseWaitSeconds(o.wait);
      if (!checkWorkerDir(basedir, print)) return setCode(1);
      const quiet = !!o.quiet;
      const r = await stopWorker(basedir, { quiet, graceful: !!o.graceful, waitMs }, print);
      if (r === 'not-running' && !quiet) print('no old worker process found to stop');
      if (!quiet) print('now restarting worker process..');
      setCode(await startWorker(basedir, { ...o, verbose: !!program.opts().verbose }, print));
    });

  program
    .command('demo')
    .summary('Try the worker here: an embedded master, a worker per protocol, a shell step and an upload')
    .helpOption('-h, --help', 'Display this message')
    .action(async () => {
      const { runDemo } = await import('./demo.js');
      setCode(await runDemo((l) => print(l)));
    });

  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command('test-master')
    .summary('Run the embedded test master (PB and msgpack) for trying workers without Buildbot')
    .helpOption('-h, --help', 'Display this message')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--pb-port <port>', 'PB port (0: any free port)', '9989')
    .option('--msgpack-port <port>', 'msgpack_experimental_v7 WebSocket port (0: any free port)', '9990')
    .option('--worker <name:password>', 'a worker allowed to connect (repeatable)', collect, [] as string[])
    .option('--builder <name>', 'the builder every worker gets', 'builder')
    .option('--run <command>', 'shell command to run on each worker when it attaches')
    .option('--http-port <port>', 'REST/WebSocket/SSE API and status page port, on 127.0.0.1 (0: any free port, "none": off)', '8010')
    .option('--http-host <host>', 'interface of the HTTP server (other than loopback only with --token)', '127.0.0.1')
    .option('--token <token>', 'access token of the HTTP API (default: $WORKER_TEST_MASTER_TOKEN, else random, printed at start-up)')
    .option('--http-allow-host <name>', 'another name the HTTP server answers to, e.g. behind a proxy (repeatable)', collect, [] as string[])
    .option('--base-url <url>', 'public address of the page behind a reverse proxy, e.g. https://ci.example.org/buildbot/')
    .option('--keep-jobs <n>', 'finished jobs kept in memory, oldest evicted first', String(DEFAULT_MAX_FINISHED_JOBS))
    .option('--keep-log-bytes <n>', "bytes of finished jobs' logs kept in memory, oldest evicted first", String(DEFAULT_MAX_FINISHED_LOG_BYTES))
    .option('--transfer-dir <dir>', 'directory whose files downloadFile steps may send to workers ("mastersrc" in a job step)')
    .option('--config <file>', 'JSON file: {"workers": {"name": "password"}, "builders": ["name"]}')
    .action(
      async (o: {
        host: string;
        pbPort: string;
        msgpackPort: string;
        worker: string[];
        builder: string;
        run?: string;
        httpPort: string;
        httpHost: string;
        token?: string;
        httpAllowHost: string[];
        baseUrl?: string;
        keepJobs: string;
        keepLogBytes: string;
        transferDir?: string;
        config?: string;
      }) => {
        const httpPort = o.httpPort === 'none' ? null : Number(o.httpPort);
        if (httpPort !== null && (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535)) throw new UsageError(`--http-port must be a port number or none, got ${o.httpPort}`);
        const count = (name: string, v: string): number => {
          const n = /^\d{1,15}$/.test(v) ? Number(v) : NaN;
          if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got ${v}`);
          return n;
        };
        const keepJobs = count('--keep-jobs', o.keepJobs);
        const keepLogBytes = count('--keep-log-bytes', o.keepLogBytes);
        const { runTestMaster } = await import('./test-master.js');
        setCode(
          await runTestMaster(
            {
              host: o.host,
              pbPort: Number(o.pbPort),
              msgpackPort: Number(o.msgpackPort),
              worker: o.worker,
              builder: o.builder,
              run: o.run,
              httpPort,
              httpHost: o.httpHost,
              token: o.token,
              allowHost: o.httpAllowHost,
              baseUrl: o.baseUrl,
              keepJobs,
              keepLogBytes,
              transferDir: o.transferDir,
              config: o.config,
            },
            (l) => print(l),
          ),
        );
      },
    );

  return program;
}

/** Run the CLI with `argv` as process.argv (node, script, args...); resolves with the exit code. */
export async function main(argv: string[], print: Print = printStdout): Promise<number> {
  let code = 0;
  const program = buildProgram(print, (c) => (code = c));
  const argv0 = argv[1] ?? 'buildbot-worker';
  const usageError = (message: string, cmd: Command) => {
    print(`${argv0}:  ${message}`);
    print('');
    print(cmd.helpInformation().replace(/\n$/, ''));
    return 1;
  };
  if (argv.length <= 2) return usageError('must specify a command', program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof commander.CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      const name = argv.slice(2).find((a) => !a.startsWith('-'));
      const sub = program.commands.find((c) => c.name() === name) ?? program;
      const message = err.message.replace(/^error: /, '');
      if (err.code === 'commander.unknownCommand') return usageError(message, program);
      return usageError(message, sub);
    }
    if (err instanceof UsageError) {
      const name = argv.slice(2).find((a) => !a.startsWith('-'));
      const sub = program.commands.find((c) => c.name() === name) ?? program;
      return usageError(err.message, sub);
    }
    throw err;
  }
  return code;
}
